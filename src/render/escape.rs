//! Text safety per platform: the `{{ }}` escape functions (Slack mrkdwn,
//! Discord markdown, plain text), URL sanitising for links, and cutting text
//! at character (and, where cheap, grapheme) boundaries.

use std::borrow::Cow;

use super::Platform;

/// Zero-width space: placed after `@` so `@everyone` / `@here` cannot ping.
pub(crate) const ZWSP: char = '\u{200B}';

/// Escapes payload text for `platform` (the registry's `{{ }}` escape fn).
pub(crate) fn escape(platform: Platform, s: &str) -> String {
    match platform {
        Platform::Slack => slack(s),
        Platform::Discord => discord(s),
        Platform::Plain => plain(s),
    }
}

/// Characters dropped on every platform: control characters other than
/// newline and tab (tab becomes a space), and bidi embedding/override/isolate
/// marks that could make displayed text lie about its order.
fn dropped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` without the characters `drop` picks; borrowed when there are none.
///
/// The escape functions remove these *before* they look at anything: every
/// look-ahead (the word after an `@`, a URL start, the `.` after a list
/// number) must see the text as it will be shown, or `@\u{202E}here` would
/// pass the mention guard as `@` + `\u{202E}here` and come out as `@here`.
fn without(s: &str, drop: impl Fn(char) -> bool) -> Cow<'_, str> {
    if s.chars().any(&drop) {
        Cow::Owned(s.chars().filter(|&c| !drop(c)).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// True when `rest` (the text right after an `@`, dropped characters
/// already removed) starts with a mass-mention word for `platform`.
fn mass_mention(platform: Platform, rest: &str) -> bool {
    let words: &[&str] = match platform {
        Platform::Slack => &["everyone", "here", "channel"],
        Platform::Discord => &["everyone", "here"],
        Platform::Plain => &[],
    };
    words.iter().any(|w| {
        rest.get(..w.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(w))
    })
}

/// Slack mrkdwn: `&`, `<`, `>` become entities (so `<!channel>`, `<@U1>`,
/// `<url|text>` in payload text are shown, not obeyed), and `@channel`,
/// `@here`, `@everyone` get a zero-width space after the `@`.
pub(crate) fn slack(s: &str) -> String {
    let s = &*without(s, dropped);
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for (i, c) in s.char_indices() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' => out.push(' '),
            '@' => {
                out.push('@');
                if mass_mention(Platform::Slack, &s[i + 1..]) {
                    out.push(ZWSP);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Discord markdown: backslash-escapes `\ * _ ~ ` | > < [ ]`, heading / list
/// markers at line start (`#`, `-`, `1.`), makes `@everyone` / `@here` inert
/// with a zero-width space, and leaves bare `http(s)://` URLs untouched (an
/// escape inside a URL would become part of the link).
pub(crate) fn discord(s: &str) -> String {
    let s = &*without(s, dropped);
    let mut out = String::with_capacity(s.len() + s.len() / 4);
    let mut line_start = true;
    let mut in_url = false;
    let mut prev: Option<char> = None;
    let mut iter = s.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c == '\t' {
            out.push(' ');
            prev = Some(' ');
            in_url = false;
            continue;
        }
        if in_url && (c.is_whitespace() || c == '<') {
            in_url = false;
        }
        if !in_url && starts_url(&s[i..]) && !prev.is_some_and(|p| p.is_alphanumeric()) {
            in_url = true;
        }
        if c == '\n' {
            out.push('\n');
            line_start = true;
            in_url = false;
            prev = Some(c);
            continue;
        }
        if line_start {
            if c == ' ' {
                out.push(c);
                prev = Some(c);
                continue;
            }
            line_start = false;
            match c {
                '#' | '-' | '+' => {
                    out.push('\\');
                    out.push(c);
                    prev = Some(c);
                    continue;
                }
                '0'..='9' => {
                    // "1. item" is an ordered list: escape the dot.
                    out.push(c);
                    while let Some(&(_, d)) = iter.peek() {
                        if d.is_ascii_digit() {
                            out.push(d);
                            iter.next();
                        } else {
                            break;
                        }
                    }
                    if let Some(&(_, '.')) = iter.peek() {
                        out.push_str("\\.");
                        iter.next();
                        prev = Some('.');
                    } else {
                        prev = Some('0');
                    }
                    continue;
                }
                _ => {}
            }
        }
        match c {
            '@' => {
                out.push('@');
                if mass_mention(Platform::Discord, &s[i + 1..]) {
                    out.push(ZWSP);
                }
            }
            '<' | '[' | ']' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '*' | '_' | '~' | '`' | '|' | '>' if !in_url => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        prev = Some(c);
    }
    out
}

fn starts_url(s: &str) -> bool {
    let b = s.as_bytes();
    let has = |p: &[u8]| b.len() > p.len() && b[..p.len()].eq_ignore_ascii_case(p);
    has(b"http://") || has(b"https://")
}

/// Plain text (stdout): control characters stripped except newline.
pub(crate) fn plain(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if dropped(c) => None,
            c => Some(c),
        })
        .collect()
}

/// Text for inside a code span: no backtick can close the span (they become
/// `ˋ`), no newline breaks it, mass mentions are inert, and Slack still gets
/// its three entities.
pub(crate) fn code_text(platform: Platform, s: &str) -> String {
    // `\r` is kept for the match below, which makes it a space.
    let s = &*without(s, |c| dropped(c) && c != '\r');
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        match c {
            '`' => out.push('\u{02CB}'),
            '\n' | '\r' | '\t' => out.push(' '),
            '&' if platform == Platform::Slack => out.push_str("&amp;"),
            '<' if platform == Platform::Slack => out.push_str("&lt;"),
            // Code spans show `<@1>` literally; the invisible space makes
            // sure no client ever reads a mention there.
            '<' if platform == Platform::Discord => {
                out.push('<');
                out.push(ZWSP);
            }
            '>' if platform == Platform::Slack => out.push_str("&gt;"),
            '@' => {
                out.push('@');
                if platform != Platform::Plain && mass_mention(platform, &s[i + 1..]) {
                    out.push(ZWSP);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A URL fit to put inside link markup, or `None` when it is not an
/// absolute `http(s)` URL. Characters that could end the markup (`|`, `>`,
/// `)`, spaces, …) are percent-encoded; Slack also wants `&` as `&amp;`.
pub(crate) fn sanitize_url(platform: Platform, url: &str) -> Option<String> {
    let url = url.trim();
    if !starts_url(url) {
        return None;
    }
    // Most URLs hold only characters every platform takes as they are.
    if url.bytes().all(kept_in_url) {
        return Some(url.to_string());
    }
    let mut out = String::with_capacity(url.len() + 8);
    // After the host, `@` is only data: encoded, no chat client can read a
    // mention (`@everyone`) into a link target.
    let path_start = url
        .find("://")
        .map(|i| i + 3)
        .and_then(|s| url[s..].find(['/', '?', '#']).map(|j| s + j))
        .unwrap_or(url.len());
    for (i, c) in url.char_indices() {
        match c {
            '@' if i >= path_start => push_pct(&mut out, c),
            c if c.is_control() || c.is_whitespace() => {
                push_pct(&mut out, c);
            }
            '<' | '>' | '"' | '`' | '\\' | '|' | '(' | ')' | '[' | ']' | '{' | '}' => {
                if platform == Platform::Plain && !matches!(c, '<' | '>' | '"' | '`' | '\\') {
                    out.push(c);
                } else {
                    push_pct(&mut out, c);
                }
            }
            '&' if platform == Platform::Slack => out.push_str("&amp;"),
            c if dropped(c) => push_pct(&mut out, c),
            c => out.push(c),
        }
    }
    Some(out)
}

/// URL bytes the loop in [`sanitize_url`] keeps as they are on every
/// platform, wherever they stand (`@` and `&` are not: they depend on both).
pub(super) fn kept_in_url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#=%+,;!*$'".contains(&b)
}

fn push_pct(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        out.push_str(&format!("%{b:02X}"));
    }
}

/// Characters that belong to the character before them in a grapheme: a cut
/// right before one of these would split a letter from its accent or an
/// emoji from its modifier.
pub(crate) fn is_extender(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{0483}'..='\u{0489}'
        | '\u{0591}'..='\u{05BD}'
        | '\u{0610}'..='\u{061A}'
        | '\u{064B}'..='\u{065F}'
        | '\u{0900}'..='\u{0903}'
        | '\u{093A}'..='\u{094F}'
        | '\u{0E31}' | '\u{0E34}'..='\u{0E3A}' | '\u{0E47}'..='\u{0E4E}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{200C}' | '\u{200D}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{3099}' | '\u{309A}'
        | '\u{FE00}'..='\u{FE0F}'
        | '\u{FE20}'..='\u{FE2F}'
        | '\u{1F3FB}'..='\u{1F3FF}'
        | '\u{E0020}'..='\u{E007F}'
        | '\u{E0100}'..='\u{E01EF}')
}

fn is_regional_indicator(c: char) -> bool {
    matches!(c, '\u{1F1E6}'..='\u{1F1FF}')
}

/// Moves byte index `cut` (a char boundary of `s`) back until it does not
/// split a grapheme in the common cases: combining marks, variation
/// selectors, skin tones, ZWJ sequences and flag pairs.
pub(crate) fn grapheme_floor(s: &str, mut cut: usize) -> usize {
    loop {
        if cut == 0 || cut >= s.len() {
            return cut.min(s.len());
        }
        let next = s[cut..].chars().next();
        let prev = s[..cut].chars().next_back();
        let (Some(next), Some(prev)) = (next, prev) else {
            return cut;
        };
        if is_extender(next) || prev == '\u{200D}' {
            cut -= prev.len_utf8();
            continue;
        }
        if is_regional_indicator(next) && is_regional_indicator(prev) {
            let run = s[..cut]
                .chars()
                .rev()
                .take_while(|c| is_regional_indicator(*c))
                .count();
            if run % 2 == 1 {
                cut -= prev.len_utf8();
                continue;
            }
        }
        return cut;
    }
}

/// `s` cut to at most `max` chars, ending in `…` when anything was cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if max == 0 {
        return String::new();
    }
    let mut indices = s.char_indices();
    // Byte index of char number `max` (the first one that would not fit).
    let Some((over, _)) = indices.nth(max) else {
        return s.to_string();
    };
    // Keep max-1 chars and add the ellipsis.
    let keep = s[..over]
        .char_indices()
        .next_back()
        .map(|(i, _)| i)
        .unwrap_or(0);
    let keep = grapheme_floor(s, keep);
    let mut out = s[..keep].trim_end().to_string();
    out.push('…');
    out
}

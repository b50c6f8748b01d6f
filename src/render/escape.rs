//! Text safety shared by every platform: the mention guard (`@everyone`,
//! `@here`, `@channel` made inert with a zero-width space, even when split
//! by characters that are dropped), the characters dropped everywhere, URL
//! sanitising for link markup, and cutting text at character (and, where
//! cheap, grapheme) boundaries. Each platform's own escaping lives in its
//! module under `platform/` and is built from these pieces.

use std::borrow::Cow;

use super::Platform;

#[cfg(test)]
pub(crate) use super::platform::discord::escape as discord;
pub(crate) use super::platform::plain::escape as plain;
#[cfg(test)]
pub(crate) use super::platform::slack::escape as slack;

/// Zero-width space: placed after `@` so `@everyone` / `@here` cannot ping.
pub(crate) const ZWSP: char = '\u{200B}';

/// Escapes payload text for `platform` (the registry's `{{ }}` escape fn).
pub(crate) fn escape(platform: Platform, s: &str) -> String {
    platform.dialect().escape(s)
}

/// Characters dropped on every platform: control characters other than
/// newline and tab (tab becomes a space), and bidi embedding/override/isolate
/// marks that could make displayed text lie about its order.
pub(crate) fn dropped(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` without the characters `drop` picks; borrowed when there are none.
///
/// The escape functions remove these *before* they look at anything: every
/// look-ahead (the word after an `@`, a URL start, the `.` after a list
/// number) must see the text as it will be shown, or `@\u{202E}here` would
/// pass the mention guard as `@` + `\u{202E}here` and come out as `@here`.
pub(crate) fn without(s: &str, drop: impl Fn(char) -> bool) -> Cow<'_, str> {
    if s.chars().any(&drop) {
        Cow::Owned(s.chars().filter(|&c| !drop(c)).collect())
    } else {
        Cow::Borrowed(s)
    }
}

/// True when `rest` (the text right after an `@`, dropped characters
/// already removed) starts with one of the mass-mention `words` of a
/// platform.
pub(crate) fn mass_mention(words: &[&str], rest: &str) -> bool {
    words.iter().any(|w| {
        rest.get(..w.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(w))
    })
}

pub(crate) fn starts_url(s: &str) -> bool {
    let b = s.as_bytes();
    let has = |p: &[u8]| b.len() > p.len() && b[..p.len()].eq_ignore_ascii_case(p);
    has(b"http://") || has(b"https://")
}

/// Text for inside a code span of `platform`.
#[cfg(test)]
pub(crate) fn code_text(platform: Platform, s: &str) -> String {
    platform.dialect().code_text(s)
}

/// How a platform writes text inside a code span.
pub(crate) struct CodeRules {
    /// Slack: `&`, `<`, `>` as entities.
    pub entities: bool,
    /// Discord: an invisible space after `<`, so no client reads `<@1>`.
    pub break_angle: bool,
    /// The mass-mention words to guard (none for plain text).
    pub mention_words: &'static [&'static str],
}

/// Text for inside a code span: no backtick can close the span (they become
/// `ˋ`), no newline breaks it, mass mentions are inert, and entities where
/// the platform wants them.
pub(crate) fn code_text_with(s: &str, rules: &CodeRules) -> String {
    code_with(s, rules, false)
}

/// Text for inside a fenced code block: as [`code_text_with`], but line
/// breaks are kept (no backtick can close the fence).
pub(crate) fn code_block_with(s: &str, rules: &CodeRules) -> String {
    code_with(s, rules, true)
}

fn code_with(s: &str, rules: &CodeRules, keep_lines: bool) -> String {
    // `\r` is kept for the match below, which makes it a space.
    let s = &*without(s, |c| dropped(c) && c != '\r');
    let mut out = String::with_capacity(s.len() + 8);
    for (i, c) in s.char_indices() {
        match c {
            '`' => out.push('\u{02CB}'),
            '\n' if keep_lines => out.push('\n'),
            '\r' if keep_lines => {}
            '\n' | '\r' | '\t' => out.push(' '),
            '&' if rules.entities => out.push_str("&amp;"),
            '<' if rules.entities => out.push_str("&lt;"),
            '>' if rules.entities => out.push_str("&gt;"),
            '<' if rules.break_angle => {
                out.push('<');
                out.push(ZWSP);
            }
            '@' => {
                out.push('@');
                if mass_mention(rules.mention_words, &s[i + 1..]) {
                    out.push(ZWSP);
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A URL fit to put inside `platform`'s link markup, or `None` when it is
/// not an absolute `http(s)` URL.
#[cfg(test)]
pub(crate) fn sanitize_url(platform: Platform, url: &str) -> Option<String> {
    platform.dialect().sanitize_url(url)
}

/// A URL fit to put inside link markup, or `None` when it is not an
/// absolute `http(s)` URL. Characters that could end the markup (`|`, `>`,
/// `)`, spaces, …) are percent-encoded, except brackets and `|` when
/// `keep_brackets` (plain text has no markup to end); `amp_entity` writes
/// `&` as `&amp;` (Slack).
pub(crate) fn sanitize_url_with(
    url: &str,
    keep_brackets: bool,
    amp_entity: bool,
) -> Option<String> {
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
                if keep_brackets && !matches!(c, '<' | '>' | '"' | '`' | '\\') {
                    out.push(c);
                } else {
                    push_pct(&mut out, c);
                }
            }
            '&' if amp_entity => out.push_str("&amp;"),
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

/// `s` on one line: every run of whitespace that holds a line break becomes
/// one space, and the ends are trimmed (titles, names, field names and
/// footers are one line on every platform).
pub(crate) fn one_line(s: &str) -> Cow<'_, str> {
    let s = s.trim();
    if !s.contains(['\n', '\r', '\u{2028}', '\u{2029}']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    for (i, line) in s
        .split(['\n', '\r', '\u{2028}', '\u{2029}'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(line);
    }
    Cow::Owned(out)
}

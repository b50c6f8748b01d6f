//! Platform size limits: cutting a rendered message to fit (with a visible
//! marker) and splitting Slack text into section blocks, at places that do
//! not break a character, an entity, a link or an escape.

use super::Platform;
use super::escape::grapheme_floor;

/// Discord: 2,000 characters of `content`.
pub const DISCORD_MAX: usize = 2_000;
/// Slack: 40,000 characters of `text`.
pub const SLACK_MAX: usize = 40_000;
/// Slack: 3,000 characters per section block.
pub const SLACK_SECTION_MAX: usize = 3_000;
/// Slack: 50 blocks per message.
pub const SLACK_MAX_BLOCKS: usize = 50;
/// stdout has no platform limit; this keeps one delivery to a sane size.
pub const PLAIN_MAX: usize = 40_000;

/// What is appended where a message was cut.
pub const TRUNCATED: &str = "… (truncated)";

/// Length as the platforms count it. Counting UTF-16 units is never less
/// than counting code points, so it is safe whichever one the platform uses.
pub fn units(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

pub fn max_for(platform: Platform) -> usize {
    match platform {
        Platform::Slack => SLACK_MAX,
        Platform::Discord => DISCORD_MAX,
        Platform::Plain => PLAIN_MAX,
    }
}

/// `text` within `platform`'s limit: unchanged when it fits, otherwise cut
/// at a safe place and ended with [`TRUNCATED`].
pub fn enforce(platform: Platform, text: String) -> String {
    let max = max_for(platform);
    if text.len() <= max || units(&text) <= max {
        return text;
    }
    // Room for the marker and for closing an open code fence.
    let budget = max - units(TRUNCATED) - 5;
    let cut = safe_cut(platform, &text, budget, true);
    let mut out = text[..cut].trim_end().to_string();
    if out.matches("```").count() % 2 == 1 {
        out.push_str("\n```\n");
    } else if !out.is_empty() && !out.ends_with('\n') {
        out.push(' ');
    }
    out.push_str(TRUNCATED);
    out
}

/// Byte index at most `budget` units into `s` where `s` can be cut: a line
/// end when one is reasonably close, else a space, else any character
/// boundary; never inside a grapheme, a Slack entity or link, or right after
/// a Discord escape backslash.
pub fn safe_cut(platform: Platform, s: &str, budget: usize, prefer_lines: bool) -> usize {
    let mut used = 0;
    let mut hard = s.len();
    for (i, c) in s.char_indices() {
        used += c.len_utf16();
        if used > budget {
            hard = i;
            break;
        }
    }
    if hard >= s.len() {
        return s.len();
    }
    let hard = grapheme_floor(s, hard);
    let head = &s[..hard];
    // Prefer a newline in the last 60% of the window, then a space in the
    // last 20%: cutting there cannot split any markup on a line.
    if prefer_lines
        && let Some(nl) = head.rfind('\n')
        && nl * 5 >= hard * 2
    {
        return nl + 1;
    }
    // A space can still sit inside a link label or a code span.
    let cut = match head.rfind(' ') {
        Some(sp) if sp * 5 >= hard * 4 => sp + 1,
        _ => hard,
    };
    code_floor(platform, s, markup_floor(platform, s, cut))
}

/// Moves `cut` back before an inline code span it would leave open (an odd
/// number of backticks earlier on its line; Discord's escaped ones do not
/// count), so the rest of the message is not shown inside out.
fn code_floor(platform: Platform, s: &str, cut: usize) -> usize {
    if platform == Platform::Plain {
        return cut;
    }
    let start = s[..cut].rfind('\n').map_or(0, |i| i + 1);
    let line = &s.as_bytes()[start..cut];
    let mut open = None;
    for (i, b) in line.iter().enumerate() {
        let escaped = platform == Platform::Discord
            && line[..i].iter().rev().take_while(|x| **x == b'\\').count() % 2 == 1;
        if *b == b'`' && !escaped {
            open = match open {
                Some(_) => None,
                None => Some(start + i),
            };
        }
    }
    match open {
        Some(at) if at > 0 => at,
        _ => cut,
    }
}

/// Moves `cut` back out of any markup it would split.
fn markup_floor(platform: Platform, s: &str, mut cut: usize) -> usize {
    let head = &s[..cut];
    match platform {
        Platform::Slack => {
            // An entity (`&amp;`) is at most 5 bytes long.
            if let Some(amp) = head.rfind('&')
                && cut - amp < 6
                && !head[amp..].contains(';')
            {
                cut = amp;
            }
            // A `<…>` link or mention: payload `<` is always escaped, so a
            // raw `<` after the last `>` is an open link of ours.
            let head = &s[..cut];
            if let Some(lt) = head.rfind('<')
                && !head[lt..].contains('>')
                && lt > 0
            {
                cut = lt;
            }
        }
        Platform::Discord => {
            // Never leave a dangling escape backslash.
            let trailing = s[..cut].bytes().rev().take_while(|b| *b == b'\\').count();
            if trailing % 2 == 1 {
                cut -= 1;
            }
            // A masked link `[text](<url>)` cut in half shows its markup.
            let head = &s[..cut];
            if let Some(open) = last_unescaped(head, b'[')
                && !head[open..].contains(')')
                && open > 0
            {
                cut = open;
            }
        }
        Platform::Plain => {}
    }
    cut
}

/// Byte index of the last `b` in `s` not preceded by an escaping backslash.
fn last_unescaped(s: &str, b: u8) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut end = bytes.len();
    while let Some(i) = bytes[..end].iter().rposition(|x| *x == b) {
        let slashes = bytes[..i].iter().rev().take_while(|x| **x == b'\\').count();
        if slashes % 2 == 0 {
            return Some(i);
        }
        end = i;
    }
    None
}

/// Splits Slack mrkdwn into section texts of at most
/// [`SLACK_SECTION_MAX`] units, at most [`SLACK_MAX_BLOCKS`] of them.
pub fn slack_sections(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text.trim_matches('\n');
    while !rest.is_empty() && out.len() < SLACK_MAX_BLOCKS {
        let cut = safe_cut(Platform::Slack, rest, SLACK_SECTION_MAX, true);
        // A cut at 0 would loop forever: take what fits instead.
        let cut = if cut == 0 {
            let hard = safe_cut(Platform::Plain, rest, SLACK_SECTION_MAX, false);
            if hard == 0 {
                rest.chars()
                    .next()
                    .map(char::len_utf8)
                    .unwrap_or(rest.len())
            } else {
                hard
            }
        } else {
            cut
        };
        let chunk = rest[..cut].trim_end();
        if !chunk.trim().is_empty() {
            out.push(chunk);
        }
        rest = rest[cut..].trim_start_matches('\n');
    }
    out
}

//! Cutting rendered text to fit a limit, with a visible marker, at places
//! that do not break a character, an entity, a link or an escape (each
//! platform's module says where its markup may not be cut). The limits
//! themselves live in the platform modules; they are re-exported here.

use super::Platform;
use super::escape::grapheme_floor;

pub use super::platform::discord::{
    CONTENT_MAX as DISCORD_MAX, DESCRIPTION_MAX as DISCORD_DESCRIPTION_MAX,
    EMBED_TOTAL_MAX as DISCORD_EMBED_TOTAL_MAX, EMBEDS_MAX as DISCORD_EMBEDS_MAX,
    FIELD_NAME_MAX as DISCORD_FIELD_NAME_MAX, FIELD_VALUE_MAX as DISCORD_FIELD_VALUE_MAX,
    FIELDS_MAX as DISCORD_FIELDS_MAX, FOOTER_MAX as DISCORD_FOOTER_MAX,
    NAME_MAX as DISCORD_AUTHOR_MAX, TITLE_MAX as DISCORD_TITLE_MAX,
};
pub use super::platform::plain::TEXT_MAX as PLAIN_MAX;
pub use super::platform::slack::{
    BLOCKS_MAX as SLACK_MAX_BLOCKS, CONTEXT_ELEMENTS_MAX as SLACK_CONTEXT_MAX,
    FIELD_MAX as SLACK_FIELD_MAX, FIELDS_MAX as SLACK_FIELDS_MAX, HEADER_MAX as SLACK_HEADER_MAX,
    SECTION_MAX as SLACK_SECTION_MAX, TEXT_MAX as SLACK_MAX, sections as slack_sections,
};

/// What is appended where a message was cut.
pub const TRUNCATED: &str = "… (truncated)";

/// Length as the platforms count it. Counting UTF-16 units is never less
/// than counting code points, so it is safe whichever one the platform uses.
pub fn units(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

pub fn max_for(platform: Platform) -> usize {
    platform.dialect().text_max()
}

/// `text` within `platform`'s limit: unchanged when it fits, otherwise cut
/// at a safe place and ended with [`TRUNCATED`].
pub fn enforce(platform: Platform, text: String) -> String {
    let max = max_for(platform);
    fit(platform, text, max, TRUNCATED)
}

/// `text` within `max` units: unchanged when it fits, otherwise cut at a
/// safe place for `platform` (a line end when one is close) and ended with
/// `marker` (an open code fence is closed first).
pub fn fit(platform: Platform, text: String, max: usize, marker: &str) -> String {
    if text.len() <= max || units(&text) <= max {
        return text;
    }
    // Room for the marker and for closing an open code fence.
    let budget = max.saturating_sub(units(marker) + 5);
    let cut = safe_cut(platform, &text, budget, true);
    let mut out = text[..cut].trim_end().to_string();
    if out.matches("```").count() % 2 == 1 {
        out.push_str("\n```\n");
    } else if !out.is_empty() && !out.ends_with('\n') && !marker.starts_with('\n') {
        out.push(' ');
    }
    out.push_str(marker.trim_start_matches('\n'));
    out
}

/// One line within `max` units, ended with `…` when cut (titles, names).
pub fn fit_line(platform: Platform, text: String, max: usize) -> String {
    if text.len() <= max || units(&text) <= max {
        return text;
    }
    let cut = safe_cut(platform, &text, max.saturating_sub(1), false);
    let mut out = text[..cut].trim_end().to_string();
    out.push('…');
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
    platform.dialect().cut_floor(s, cut)
}

/// Moves `cut` back before an inline code span it would leave open (an odd
/// number of backticks earlier on its line; with `backslash_escapes`,
/// escaped ones do not count), so the rest is not shown inside out.
pub(crate) fn code_floor(s: &str, cut: usize, backslash_escapes: bool) -> usize {
    let start = s[..cut].rfind('\n').map_or(0, |i| i + 1);
    let line = &s.as_bytes()[start..cut];
    let mut open = None;
    for (i, b) in line.iter().enumerate() {
        let escaped = backslash_escapes
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

/// Byte index of the last `b` in `s` not preceded by an escaping backslash.
pub(crate) fn last_unescaped(s: &str, b: u8) -> Option<usize> {
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

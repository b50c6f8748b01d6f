//! Plain text, for the stdout sink, and the smallest example of a
//! platform: no markup to escape (control characters are dropped), links
//! shown as their labels, and a card drawn as readable text (its text,
//! then the title, link, author, body, fields and footer indented under
//! it), sent as `{"text": …}`.

use serde_json::{Value as Json, json};

use super::Dialect;
use crate::render::Platform;
use crate::render::card::{Card, human_utc};
use crate::render::escape::{
    CodeRules, code_block_with, code_text_with, dropped, sanitize_url_with,
};
use crate::render::limits::{TRUNCATED, fit};

/// stdout has no platform limit; this keeps one delivery to a sane size.
pub const TEXT_MAX: usize = 40_000;

const CODE: CodeRules = CodeRules {
    entities: false,
    break_angle: false,
    mention_words: &[],
};

pub(crate) struct Plain;

/// Plain text (stdout): control characters stripped except newline.
pub(crate) fn escape(s: &str) -> String {
    // Most text has nothing to drop (URLs, names, times).
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return s.to_string();
    }
    s.chars()
        .filter_map(|c| match c {
            '\t' => Some(' '),
            c if dropped(c) => None,
            c => Some(c),
        })
        .collect()
}

impl Dialect for Plain {
    fn name(&self) -> &'static str {
        "plain"
    }

    fn escape(&self, raw: &str) -> String {
        escape(raw)
    }

    fn code_text(&self, raw: &str) -> String {
        code_text_with(raw, &CODE)
    }

    fn code(&self, raw: &str) -> String {
        self.code_text(raw.trim())
    }

    fn sanitize_url(&self, raw: &str) -> Option<String> {
        sanitize_url_with(raw, true, false)
    }

    /// The label alone (the card shows its own link); the URL when there
    /// is no label.
    fn link(&self, url: &str, label: &str) -> String {
        let label = label.trim();
        if !label.is_empty() {
            return label.replace('\n', " ");
        }
        self.sanitize_url(url).unwrap_or_default()
    }

    fn bold(&self, inner: &str) -> String {
        inner.trim().to_string()
    }

    fn italic(&self, inner: &str) -> String {
        inner.trim().to_string()
    }

    fn strike(&self, inner: &str) -> String {
        inner.trim().to_string()
    }

    fn bullet(&self, ordered: Option<u64>) -> String {
        match ordered {
            Some(n) => format!("{n}. "),
            None => "- ".to_string(),
        }
    }

    fn code_block(&self, raw: &str) -> String {
        code_block_with(raw.trim_matches('\n'), &CODE)
            .lines()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn unmarkup(&self, markup: &str) -> String {
        markup.to_string()
    }

    fn cut_floor(&self, _s: &str, cut: usize) -> usize {
        cut
    }

    fn text_max(&self) -> usize {
        TEXT_MAX
    }

    fn body(&self, card: &Card, _channel: Option<&str>) -> Json {
        json!({ "text": fit(Platform::Plain, text(card), TEXT_MAX, TRUNCATED) })
    }
}

/// The card as plain text: its text line, then every other part indented
/// by two spaces.
pub(crate) fn text(card: &Card) -> String {
    if card.is_text_only() {
        return card.text.clone();
    }
    let mut out = String::new();
    if !card.text.is_empty() {
        out.push_str(&card.text);
        out.push('\n');
    }
    let mut push = |s: &str| {
        for l in s.lines() {
            if l.trim().is_empty() {
                out.push('\n');
            } else {
                out.push_str("  ");
                out.push_str(l);
                out.push('\n');
            }
        }
    };
    if !card.title.is_empty() {
        push(&card.title);
    }
    if !card.url.is_empty() {
        push(&card.url);
    }
    if !card.author.name.is_empty() {
        push(&format!("by {}", card.author.name));
    }
    if !card.body.is_empty() {
        push(&card.body);
    }
    for f in &card.fields {
        if f.name.is_empty() {
            push(&f.value);
        } else {
            push(&format!("{}: {}", f.name, f.value));
        }
    }
    let mut footer = card.footer.clone();
    if !card.timestamp.is_empty() {
        if !footer.is_empty() {
            footer.push_str(" · ");
        }
        footer.push_str(&human_utc(&card.timestamp));
    }
    if !footer.is_empty() {
        push(&footer);
    }
    out.truncate(out.trim_end().len());
    out
}

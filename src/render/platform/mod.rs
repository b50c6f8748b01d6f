//! The chat platforms, one module each: everything that differs between
//! Slack, Discord and plain text (stdout) lives in that platform's module
//! and nowhere else: the `{{ }}` escaping, the markup the helpers write
//! (links, bold, code, quotes, Markdown converted to the platform's
//! dialect), the hard limits, and how a [`Card`] becomes the exact request
//! body the platform gets.
//!
//! A new platform is a new module implementing [`Dialect`], a variant of
//! [`Platform`], and (if its markup needs them) templates under
//! `templates/<platform>/`; `docs/cards.md` walks through it with the
//! plain platform as the example.

pub(crate) mod discord;
pub(crate) mod plain;
pub(crate) mod slack;

use serde_json::Value as Json;

use super::card::Card;
use crate::config::SinkKind;

/// The dialect a message is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    Slack,
    Discord,
    /// Plain text, for the stdout sink.
    Plain,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Slack, Platform::Discord, Platform::Plain];

    pub fn for_sink(kind: SinkKind) -> Platform {
        match kind {
            SinkKind::Slack => Platform::Slack,
            SinkKind::Discord => Platform::Discord,
            SinkKind::Stdout => Platform::Plain,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.dialect().name()
    }

    pub(crate) fn from_dir_name(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The platform's module.
    pub(crate) fn dialect(self) -> &'static dyn Dialect {
        match self {
            Platform::Slack => &slack::Slack,
            Platform::Discord => &discord::Discord,
            Platform::Plain => &plain::Plain,
        }
    }
}

/// One chat platform's markup, limits and request body.
///
/// Markup methods take *markup* (already escaped) unless they say *raw*;
/// they never fail: what a platform cannot show is left out or shown
/// plainly.
pub(crate) trait Dialect: Send + Sync {
    /// The directory name under `templates/` (`slack`).
    fn name(&self) -> &'static str;

    /// Escapes raw payload text (the registry's `{{ }}`): the result shows
    /// as written, pings nobody and cannot break the markup around it.
    fn escape(&self, raw: &str) -> String;

    /// Raw text for inside an inline code span (no backtick can end it).
    fn code_text(&self, raw: &str) -> String;

    /// A raw URL fit for this platform's link markup, or `None` when it is
    /// not an absolute http(s) URL.
    fn sanitize_url(&self, raw: &str) -> Option<String>;

    /// A link to `url` (raw) labelled with `label` (markup); just the label
    /// when the URL is not http(s), just the URL when the label is empty.
    fn link(&self, url: &str, label: &str) -> String;

    /// Inline code of raw text; empty when the text is.
    fn code(&self, raw: &str) -> String {
        let s = self.code_text(raw.trim());
        if s.is_empty() { s } else { format!("`{s}`") }
    }

    fn bold(&self, inner: &str) -> String;
    fn italic(&self, inner: &str) -> String;
    fn strike(&self, inner: &str) -> String;

    /// A heading line of Markdown, in this platform's markup.
    fn heading(&self, inner: &str) -> String {
        self.bold(inner)
    }

    /// A block of raw code (a fenced block in chat markup).
    fn code_block(&self, raw: &str) -> String;

    /// The marker before a list item: `• `, `- `, `3. `.
    fn bullet(&self, ordered: Option<u64>) -> String {
        match ordered {
            Some(n) => format!("{n}. "),
            None => "• ".to_string(),
        }
    }

    /// Markup with every marker removed: what a plain-text slot of the
    /// platform (an alt text, a Discord footer) shows.
    fn unmarkup(&self, markup: &str) -> String;

    /// Moves `cut` (a byte index of `s`) back so that `s[..cut]` leaves no
    /// link, entity, escape or code span of this platform half-written.
    fn cut_floor(&self, s: &str, cut: usize) -> usize;

    /// The most characters a text-only message may have.
    fn text_max(&self) -> usize;

    /// The exact JSON request body for `card` (`channel`: a Slack channel
    /// for bot tokens; ignored elsewhere), within every limit of the
    /// platform: whatever does not fit is cut with a visible marker.
    fn body(&self, card: &Card, channel: Option<&str>) -> Json;
}

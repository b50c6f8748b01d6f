//! Rendering: one Handlebars registry per platform (Slack mrkdwn, Discord
//! markdown, plain text), embedded default templates overridable from
//! `templates/`, inert mentions, and platform size limits.
//!
//! INTERFACE STUB: to be implemented.

use std::path::Path;

use crate::config::SinkKind;
use crate::event::Event;

/// The dialect a message is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Platform {
    Slack,
    Discord,
    /// Plain text, for the stdout sink.
    Plain,
}

impl Platform {
    pub fn for_sink(kind: SinkKind) -> Platform {
        match kind {
            SinkKind::Slack => Platform::Slack,
            SinkKind::Discord => Platform::Discord,
            SinkKind::Stdout => Platform::Plain,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Slack => "slack",
            Platform::Discord => "discord",
            Platform::Plain => "plain",
        }
    }
}

/// A template problem: which template, where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    /// e.g. `templates/slack/default/push.hbs` or `embedded:slack/default/push`
    pub template: String,
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.template, l, self.message),
            None => write!(f, "{}: {}", self.template, self.message),
        }
    }
}

/// All templates for all platforms, compiled.
pub struct Renderer {}

impl Renderer {
    /// Embedded defaults, overridden by files under `dir` (a missing `dir`
    /// means defaults only). Fails on a template that does not compile.
    pub fn load(dir: &Path) -> Result<Renderer, Vec<TemplateProblem>> {
        let _ = dir;
        todo!()
    }

    /// Strict check for `hookbridge check`: every template compiles and
    /// renders a sample event in strict mode. Empty when all is well.
    pub fn check(dir: &Path) -> Vec<TemplateProblem> {
        let _ = dir;
        todo!()
    }

    /// Renders `event` with template set `set` for `platform`: the message
    /// text, escaped, mention-safe and within the platform's limits. Never
    /// fails: a template that errors at render time falls back to the
    /// embedded generic template.
    pub fn render(&self, platform: Platform, set: &str, event: &Event) -> String {
        let _ = (platform, set, event);
        todo!()
    }
}

/// The exact JSON request body a sink posts for `text`: Slack
/// `chat.postMessage`/webhook body (with `channel` when given), Discord
/// execute-webhook/create-message body (`allowed_mentions` empty), or
/// `{"text": …}` for stdout.
pub fn request_body(platform: Platform, channel: Option<&str>, text: &str) -> serde_json::Value {
    let _ = (platform, channel, text);
    todo!()
}

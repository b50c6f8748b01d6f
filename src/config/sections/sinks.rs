//! `[sinks.NAME]`: where messages are posted (Slack, Discord, stdout) and
//! the credentials to post with.

use std::fmt;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::config::context::Ctx;
use crate::config::{ConfigError, Secret};

/// `[sinks.NAME]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSink {
    /// `kind = "slack"`: parsed by serde, which names the valid kinds.
    kind: SinkKind,
    /// `token = "${SLACK_BOT_TOKEN}"`: a bot token; channels come from routes.
    token: Option<Spanned<String>>,
    /// `webhook_url = "${SLACK_WEBHOOK_URL}"`: an incoming webhook (fixed
    /// channel).
    webhook_url: Option<Spanned<String>>,
    /// `api_base = "http://127.0.0.1:9200/api/"`: for tests and proxies.
    api_base: Option<Spanned<String>>,
    /// `forum = true`: the Discord webhook posts into a forum channel, where
    /// every new post is a thread (so routes with `thread = true` can thread).
    forum: Option<Spanned<bool>>,
}

/// The platform a sink posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SinkKind {
    Slack,
    Discord,
    Stdout,
}

impl SinkKind {
    pub const ALL: [SinkKind; 3] = [SinkKind::Slack, SinkKind::Discord, SinkKind::Stdout];

    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Slack => "slack",
            SinkKind::Discord => "discord",
            SinkKind::Stdout => "stdout",
        }
    }

    pub fn parse(s: &str) -> Option<SinkKind> {
        SinkKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The valid kinds, as an operator writes them.
    pub(crate) fn names() -> String {
        SinkKind::ALL.map(SinkKind::as_str).join(", ")
    }
}

impl fmt::Display for SinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// From the lowercase name (`"slack"`); any other string is an error
/// naming it.
impl<'de> Deserialize<'de> for SinkKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SinkKind::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown sink kind `{s}`")))
    }
}

/// One place messages are posted to.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    /// The table's name, which routes' targets start with.
    pub name: String,
    /// The platform.
    pub kind: SinkKind,
    /// Bot token (Slack `xoxb-…`, Discord bot token): channel comes from the route.
    pub token: Option<Secret>,
    /// Slack incoming webhook or Discord webhook URL: fixed channel.
    pub webhook_url: Option<Secret>,
    /// Base URL of the platform API, for tests and proxies.
    pub api_base: Option<String>,
    /// A Discord webhook into a forum channel: new posts start threads.
    pub forum: bool,
}

impl SinkConfig {
    /// True when messages go through a bot token and so need a channel.
    pub fn needs_channel(&self) -> bool {
        self.kind != SinkKind::Stdout && self.token.is_some() && self.webhook_url.is_none()
    }

    /// Whether this sink can keep an item's events in one thread and edit
    /// its parent; `Err` says why not, for `check` and the start-up log.
    pub fn can_thread(&self) -> Result<(), &'static str> {
        match (self.kind, self.token.is_some(), self.webhook_url.is_some()) {
            (SinkKind::Stdout, _, _) => Err("stdout prints every message on its own"),
            (SinkKind::Slack, true, _) => Ok(()),
            (SinkKind::Slack, false, _) => Err(
                "a Slack incoming webhook cannot thread or edit: use a bot token (token = \"${SLACK_BOT_TOKEN}\") with the channel in the route",
            ),
            (SinkKind::Discord, true, _) => Ok(()),
            (SinkKind::Discord, false, _) if self.forum => Ok(()),
            (SinkKind::Discord, false, _) => Err(
                "a Discord webhook in a text channel cannot thread: point it at a forum channel and set forum = true, or use a bot token",
            ),
        }
    }

    /// Validates `[sinks.NAME]`. `Ok(None)`: the sink is disabled, because
    /// every credential was written `${VAR:-}` and expanded to nothing.
    pub(crate) fn from_raw(
        name: &str,
        raw: &Spanned<RawSink>,
        cx: &Ctx<'_>,
    ) -> Result<Option<SinkConfig>, ConfigError> {
        let key = format!("sinks.{name}");
        cx.check_name(name, &key, raw.span())?;
        let sink = raw.get_ref();
        let kind = sink.kind;
        let token = credential(cx, sink.token.as_ref(), &format!("{key}.token"))?;
        let webhook_url = credential(cx, sink.webhook_url.as_ref(), &format!("{key}.webhook_url"))?;
        let api_base = match &sink.api_base {
            Some(a) => {
                let v = cx.expand(a, &format!("{key}.api_base"))?;
                if !(v.starts_with("http://") || v.starts_with("https://")) {
                    return cx.err(
                        a.span(),
                        format!("{key}.api_base"),
                        format!("`{v}` is not an http(s) URL"),
                        "write the base URL, e.g. \"http://127.0.0.1:9200/api/\"",
                    );
                }
                Some(v)
            }
            None => None,
        };
        match kind {
            SinkKind::Slack | SinkKind::Discord if token.is_none() && webhook_url.is_none() => {
                no_credential(kind, raw, &key, cx)?;
                return Ok(None);
            }
            SinkKind::Stdout if token.is_some() || webhook_url.is_some() || api_base.is_some() => {
                return cx.err(
                    raw.span(),
                    key,
                    "a stdout sink takes no token, webhook_url or api_base",
                    "remove those keys, or change kind to slack or discord",
                );
            }
            _ => {}
        }
        let forum = match &sink.forum {
            Some(f) if *f.get_ref() && (kind != SinkKind::Discord || webhook_url.is_none()) => {
                return cx.err(
                    f.span(),
                    format!("{key}.forum"),
                    "`forum` is for a Discord webhook that posts into a forum channel",
                    "remove it: a bot token threads in any text channel, and Slack threads with a bot token",
                );
            }
            Some(f) => *f.get_ref(),
            None => false,
        };
        if let (Some(w), Some(written)) = (&webhook_url, &sink.webhook_url)
            && !(w.expose().starts_with("https://") || w.expose().starts_with("http://"))
        {
            return cx.err(
                written.span(),
                format!("{key}.webhook_url"),
                "is not an http(s) URL",
                "paste the webhook URL the platform gave you",
            );
        }
        Ok(Some(SinkConfig {
            name: name.to_string(),
            kind,
            token,
            webhook_url,
            api_base,
            forum,
        }))
    }
}

/// A credential after `${VAR}` expansion; `None` when absent or empty (an
/// empty one is judged by [`no_credential`] when the sink has no other).
fn credential(
    cx: &Ctx<'_>,
    value: Option<&Spanned<String>>,
    key: &str,
) -> Result<Option<Secret>, ConfigError> {
    let Some(v) = value else { return Ok(None) };
    let s = cx.expand(v, key)?;
    Ok((!s.is_empty()).then(|| Secret::new(s)))
}

/// A Slack or Discord sink left without a credential. Every credential
/// written as `${VAR:-}` and expanding to nothing: the operator opted in to
/// running without this sink (`Ok`: disabled). Empty any other way
/// (`token = ""`, a variable set but empty) is a mistake that would drop
/// this sink's messages, and none written at all is one too: an error.
fn no_credential(
    kind: SinkKind,
    raw: &Spanned<RawSink>,
    key: &str,
    cx: &Ctx<'_>,
) -> Result<(), ConfigError> {
    let sink = raw.get_ref();
    let written: Vec<(&Spanned<String>, &str)> = [
        sink.token.as_ref().map(|t| (t, "token")),
        sink.webhook_url.as_ref().map(|w| (w, "webhook_url")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if written.is_empty() {
        let (tok, hook) = if kind == SinkKind::Slack {
            ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL")
        } else {
            ("DISCORD_BOT_TOKEN", "DISCORD_WEBHOOK_URL")
        };
        return cx.err(
            raw.span(),
            key,
            format!("a {kind} sink needs a bot token or a webhook URL"),
            format!(
                "add token = \"${{{tok}}}\" (channel from the route) or webhook_url = \"${{{hook}}}\""
            ),
        );
    }
    let Some((value, field)) = written.iter().find(|(v, _)| !opts_out(v.get_ref())) else {
        return Ok(());
    };
    let var = variables(value.get_ref()).next();
    let why = match var {
        Some(v) => format!("the credential is empty: environment variable `{v}` is set but empty"),
        None => "the credential is empty".to_string(),
    };
    let fix = match var {
        Some(v) => {
            format!("set {v} to the credential, or write ${{{v}:-}} to run without this sink")
        }
        None => {
            "write the credential (e.g. \"${NAME}\"), or \"${NAME:-}\" to run without this sink"
                .to_string()
        }
    };
    cx.err(value.span(), format!("{key}.{field}"), why, fix)
}

/// True when `raw` is exactly `${NAME:-}`: a value the operator may leave
/// empty on purpose.
fn opts_out(raw: &str) -> bool {
    raw.trim()
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix(":-}"))
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// The variable names `${NAME}` / `${NAME:-…}` references in `raw`.
fn variables(raw: &str) -> impl Iterator<Item = &str> {
    raw.split("${").skip(1).filter_map(|r| {
        let inner = &r[..r.find('}')?];
        Some(inner.split_once(":-").map_or(inner, |(n, _)| n))
    })
}

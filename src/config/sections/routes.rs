//! `[[routes]]`: which events go where. Validated last, since a route
//! names sources and sinks.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use crate::config::context::Ctx;
use crate::config::{ConfigError, PatternSet, SinkConfig, SinkKind, SourceConfig};

/// A list of names or patterns, with the span of the whole list.
type Names = Option<Spanned<Vec<String>>>;

/// One `[[routes]]` entry as written. Every filter is optional: a route
/// matches when every filter it sets matches.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    /// Source names; absent: every source.
    sources: Names,
    /// Repository globs (case-insensitive).
    repos: Names,
    /// Event kinds or dotted prefixes (`issues.opened`, `*`).
    events: Names,
    /// Branch globs (case-sensitive).
    branches: Names,
    /// Author globs whose events are dropped (case-insensitive).
    exclude_authors: Names,
    /// Any-of labels on issues and pull requests.
    labels: Names,
    /// Labels whose items are dropped.
    exclude_labels: Names,
    /// Targets, `"sink"` or `"sink:channel"`.
    to: Spanned<Vec<String>>,
    /// Template set name.
    template: Option<Spanned<String>>,
    /// `thread = true`: each pull request, issue, merge request or
    /// discussion keeps its events in one thread under a living parent card.
    thread: Option<bool>,
    /// `broadcast = true`: state changes (opened, merged, closed,
    /// reopened) are also shown in the channel. Needs `thread = true`.
    broadcast: Option<Spanned<bool>>,
}

/// Where a message goes: a sink, and for bot-token sinks a channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// The sink's name.
    pub sink: String,
    /// Slack `#name` or channel id, Discord channel id: only for sinks that
    /// post with a bot token.
    pub channel: Option<String>,
}

impl Target {
    /// Parses `"sink"` or `"sink:channel"`.
    pub fn parse(s: &str) -> Target {
        match s.split_once(':') {
            Some((sink, channel)) if !channel.is_empty() => Target {
                sink: sink.to_string(),
                channel: Some(channel.to_string()),
            },
            Some((sink, _)) => Target {
                sink: sink.to_string(),
                channel: None,
            },
            None => Target {
                sink: s.to_string(),
                channel: None,
            },
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.channel {
            Some(c) => write!(f, "{}:{}", self.sink, c),
            None => f.write_str(&self.sink),
        }
    }
}

/// One `[[routes]]` entry, with its patterns compiled.
#[derive(Debug, Clone)]
pub struct Route {
    /// 0-based position in the file.
    pub index: usize,
    /// Line of the `[[routes]]` table in the file.
    pub line: usize,
    /// Source names; `None`: every source.
    pub sources: Option<Vec<String>>,
    /// Repository keys the route takes.
    pub repos: Option<PatternSet>,
    /// Dotted prefixes; `*` matches everything.
    pub events: Option<Vec<String>>,
    /// Branches (push, pull request base, create/delete).
    pub branches: Option<PatternSet>,
    /// Actors whose events the route drops.
    pub exclude_authors: Option<PatternSet>,
    /// Any-of labels an issue or pull request must carry.
    pub labels: Option<Vec<String>>,
    /// Labels that drop an issue or pull request.
    pub exclude_labels: Option<Vec<String>>,
    /// Where matching events go, each target once; targets on disabled
    /// sinks are left out.
    pub to: Vec<Target>,
    /// Template set name; `default` when absent.
    pub template: Option<String>,
    /// Keep each item's events in one thread (where the sink can thread).
    pub thread: bool,
    /// Show an item's state changes in the channel too.
    pub broadcast: bool,
}

impl Route {
    pub fn template_set(&self) -> &str {
        self.template.as_deref().unwrap_or("default")
    }

    /// For a route that asks for threads: each target whose sink cannot
    /// thread, and why (its messages post top-level instead).
    pub fn thread_problems<'a>(
        &'a self,
        sinks: &'a BTreeMap<String, SinkConfig>,
    ) -> impl Iterator<Item = (&'a Target, &'static str)> + 'a {
        self.to
            .iter()
            .filter(|_| self.thread)
            .filter_map(|t| Some((t, sinks.get(&t.sink)?.can_thread().err()?)))
    }

    /// Validates the `index`th `[[routes]]` entry against the sources and
    /// sinks already validated (`disabled` sinks are dropped from `to`).
    pub(crate) fn from_raw(
        index: usize,
        raw: &Spanned<RawRoute>,
        cx: &Ctx<'_>,
        sources: &BTreeMap<String, SourceConfig>,
        sinks: &BTreeMap<String, SinkConfig>,
        disabled: &[String],
    ) -> Result<Route, ConfigError> {
        let key = |k: &str| format!("routes[{index}].{k}");
        let route = raw.get_ref();
        if let Some(src) = &route.sources {
            non_empty(cx, src, &key("sources"))?;
            for name in src.get_ref() {
                if !sources.contains_key(name) {
                    return cx.err(
                        src.span(),
                        key("sources"),
                        format!("no source named `{name}`"),
                        format!(
                            "define [sources.{name}] or use one of: {}",
                            list(sources.keys())
                        ),
                    );
                }
            }
        }
        let to = targets(&route.to, &key("to"), cx, sinks, disabled)?;
        if let Some(t) = &route.template {
            let name = t.get_ref();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return cx.err(
                    t.span(),
                    key("template"),
                    format!("`{name}` is not a template set name"),
                    "use letters, digits, `-` and `_`: the name of a folder under templates/<platform>/",
                );
            }
        }
        let thread = route.thread.unwrap_or(false);
        let broadcast = match &route.broadcast {
            Some(b) if *b.get_ref() && !thread => {
                return cx.err(
                    b.span(),
                    key("broadcast"),
                    "`broadcast` shows a thread's state changes in the channel, but this route does not thread",
                    "add thread = true to the route, or remove broadcast",
                );
            }
            Some(b) => *b.get_ref(),
            None => false,
        };
        Ok(Route {
            index,
            line: cx.line(raw.span().start),
            sources: route.sources.as_ref().map(|s| s.get_ref().clone()),
            repos: patterns(cx, &route.repos, &key("repos"), true)?,
            events: names(cx, &route.events, &key("events"))?,
            branches: patterns(cx, &route.branches, &key("branches"), false)?,
            exclude_authors: patterns(cx, &route.exclude_authors, &key("exclude_authors"), true)?,
            labels: names(cx, &route.labels, &key("labels"))?,
            exclude_labels: names(cx, &route.exclude_labels, &key("exclude_labels"))?,
            to,
            template: route.template.as_ref().map(|t| t.get_ref().clone()),
            thread,
            broadcast,
        })
    }
}

/// Validates `to`: at least one target, each naming a defined sink, with a
/// channel exactly when the sink posts with a bot token. Duplicates collapse.
fn targets(
    to: &Spanned<Vec<String>>,
    key: &str,
    cx: &Ctx<'_>,
    sinks: &BTreeMap<String, SinkConfig>,
    disabled: &[String],
) -> Result<Vec<Target>, ConfigError> {
    if to.get_ref().is_empty() {
        return cx.err(
            to.span(),
            key,
            "a route must send somewhere",
            "list targets as \"sink\" or \"sink:channel\"",
        );
    }
    let mut out = Vec::new();
    for t in to.get_ref() {
        let target = Target::parse(t);
        if disabled.contains(&target.sink) {
            continue;
        }
        let Some(sink) = sinks.get(&target.sink) else {
            return cx.err(
                to.span(),
                key,
                format!("no sink named `{}`", target.sink),
                format!(
                    "define [sinks.{}] or use one of: {}",
                    target.sink,
                    list(sinks.keys())
                ),
            );
        };
        if sink.needs_channel() && target.channel.is_none() {
            return cx.err(
                to.span(),
                key,
                format!(
                    "sink `{}` posts with a bot token and needs a channel",
                    target.sink
                ),
                format!(
                    "write \"{}:<channel>\" (Slack: #name or channel id; Discord: channel id)",
                    target.sink
                ),
            );
        }
        if !sink.needs_channel() && target.channel.is_some() {
            let why = if sink.kind == SinkKind::Stdout {
                "a stdout sink has no channels".to_string()
            } else {
                format!(
                    "sink `{}` posts through a webhook, whose channel is fixed",
                    target.sink
                )
            };
            return cx.err(
                to.span(),
                key,
                why,
                format!(
                    "write just \"{}\", or give the sink a bot token to choose channels",
                    target.sink
                ),
            );
        }
        if !out.contains(&target) {
            out.push(target);
        }
    }
    Ok(out)
}

/// Compiles a list of patterns.
fn patterns(
    cx: &Ctx<'_>,
    value: &Names,
    key: &str,
    case_insensitive: bool,
) -> Result<Option<PatternSet>, ConfigError> {
    let Some(v) = value else { return Ok(None) };
    non_empty(cx, v, key)?;
    match PatternSet::new(v.get_ref(), case_insensitive) {
        Ok(set) => Ok(Some(set)),
        Err(e) => cx.err(
            v.span(),
            key,
            e,
            "`*` matches within one path segment, `**` across `/`; every other character is literal",
        ),
    }
}

/// A list of plain names.
fn names(cx: &Ctx<'_>, value: &Names, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(v) = value else { return Ok(None) };
    non_empty(cx, v, key)?;
    Ok(Some(v.get_ref().clone()))
}

/// A filter that is written must list something, and nothing blank.
fn non_empty(cx: &Ctx<'_>, v: &Spanned<Vec<String>>, key: &str) -> Result<(), ConfigError> {
    if v.get_ref().is_empty() {
        return cx.err(
            v.span(),
            key,
            "an empty list matches nothing",
            "remove the key to match everything, or list at least one value",
        );
    }
    if v.get_ref().iter().any(|s| s.trim().is_empty()) {
        return cx.err(
            v.span(),
            key,
            "contains an empty value",
            "remove the empty string",
        );
    }
    Ok(())
}

/// Names for a fix, or `(none defined)`.
fn list(names: impl Iterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = names.map(|n| n.as_ref().to_string()).collect();
    if v.is_empty() {
        "(none defined)".into()
    } else {
        v.join(", ")
    }
}

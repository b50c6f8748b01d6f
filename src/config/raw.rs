//! The TOML layer: raw serde structs with spans, `${VAR}` expansion, and the
//! checks that turn them into a [`Config`] or a [`ConfigError`] that points
//! at the line to fix.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{
    Config, ConfigError, DEFAULT_MAX_BODY_BYTES, DeliveryConfig, PatternSet, Route, Secret,
    ServerConfig, SinkConfig, SinkKind, SourceConfig, SourceKind, StoreConfig, Target, base_dir_of,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    server: Option<RawServer>,
    store: Option<RawStore>,
    delivery: Option<RawDelivery>,
    templates: Option<RawTemplates>,
    #[serde(default)]
    sources: BTreeMap<String, Spanned<RawSource>>,
    #[serde(default)]
    sinks: BTreeMap<String, Spanned<RawSink>>,
    #[serde(default)]
    routes: Vec<Spanned<RawRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    max_body_bytes: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    timeout: Option<Spanned<String>>,
    max_age: Option<Spanned<String>>,
    min_interval: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplates {
    dir: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    kind: Spanned<String>,
    secret: Option<Spanned<String>>,
    secrets: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    allow_unsigned: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    kind: Spanned<String>,
    token: Option<Spanned<String>>,
    webhook_url: Option<Spanned<String>>,
    api_base: Option<Spanned<String>>,
}

type Names = Option<Spanned<Vec<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    sources: Names,
    repos: Names,
    events: Names,
    branches: Names,
    exclude_authors: Names,
    labels: Names,
    exclude_labels: Names,
    to: Spanned<Vec<String>>,
    template: Option<Spanned<String>>,
}

/// Byte offsets to 1-based lines, and the file name, for messages.
struct Ctx<'a> {
    file: String,
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::invalid(
            &self.file,
            Some(self.line(span.start)),
            key,
            message,
            fix,
        ))
    }

    /// Expands `${VAR}` and `${VAR:-default}` in a string value.
    fn expand(&self, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        let s = value.get_ref();
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return self.err(
                    value.span(),
                    key,
                    "`${` without a closing `}`",
                    "write the variable as ${NAME}",
                );
            };
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return self.err(
                    value.span(),
                    key,
                    format!("`${{{inner}}}` is not a valid variable reference"),
                    "use ${NAME} with letters, digits and `_`, or ${NAME:-default}",
                );
            }
            match (self.env)(name) {
                Some(v) => out.push_str(&v),
                None => match default {
                    Some(d) => out.push_str(d),
                    None => return self.err(
                        value.span(),
                        key,
                        format!("environment variable `{name}` is not set"),
                        format!(
                            "set {name} in the service's environment, or write ${{{name}:-default}}"
                        ),
                    ),
                },
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn duration(
        &self,
        value: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(v) = value else { return Ok(default) };
        let text = self.expand(v, key)?;
        match humantime::parse_duration(text.trim()) {
            Ok(d) if !d.is_zero() => Ok(d),
            Ok(_) => self.err(
                v.span(),
                key,
                "must be longer than zero",
                "write e.g. \"10s\"",
            ),
            Err(e) => self.err(
                v.span(),
                key,
                format!("`{text}` is not a duration: {e}"),
                "write a number with a unit, e.g. \"10s\", \"5m\", \"24h\"",
            ),
        }
    }

    fn patterns(
        &self,
        value: &Names,
        key: &str,
        case_insensitive: bool,
    ) -> Result<Option<PatternSet>, ConfigError> {
        let Some(v) = value else { return Ok(None) };
        self.non_empty(v, key)?;
        match PatternSet::new(v.get_ref(), case_insensitive) {
            Ok(set) => Ok(Some(set)),
            Err(e) => self.err(
                v.span(),
                key,
                e,
                "`*` matches within one path segment, `**` across `/`; every other character is literal",
            ),
        }
    }

    fn non_empty(&self, v: &Spanned<Vec<String>>, key: &str) -> Result<(), ConfigError> {
        if v.get_ref().is_empty() {
            return self.err(
                v.span(),
                key,
                "an empty list matches nothing",
                "remove the key to match everything, or list at least one value",
            );
        }
        if v.get_ref().iter().any(|s| s.trim().is_empty()) {
            return self.err(
                v.span(),
                key,
                "contains an empty value",
                "remove the empty string",
            );
        }
        Ok(())
    }

    fn names(&self, value: &Names, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(v) = value else { return Ok(None) };
        self.non_empty(v, key)?;
        Ok(Some(v.get_ref().clone()))
    }
}

fn list(names: impl Iterator<Item = impl AsRef<str>>) -> String {
    let v: Vec<String> = names.map(|n| n.as_ref().to_string()).collect();
    if v.is_empty() {
        "(none defined)".into()
    } else {
        v.join(", ")
    }
}

pub(super) fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let cx = Ctx {
        file: path.display().to_string(),
        text,
        env,
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|e| {
        ConfigError::invalid(
            &cx.file,
            e.span().map(|s| cx.line(s.start)),
            "",
            e.message().trim().to_string(),
            "README.md (bridge.toml) lists every key, its values and its default",
        )
    })?;
    let raw: RawConfig = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = key_of(e.path());
        let e = e.into_inner();
        let line = e.span().map(|s| cx.line(s.start));
        ConfigError::invalid(
            &cx.file,
            line,
            key,
            e.message().trim().to_string(),
            "README.md (bridge.toml) lists every key, its values and its default",
        )
    })?;

    // [server]
    let mut server = ServerConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        max_body_bytes: DEFAULT_MAX_BODY_BYTES,
    };
    if let Some(s) = &raw.server {
        if let Some(l) = &s.listen {
            let text = cx.expand(l, "server.listen")?;
            server.listen =
                match text.trim().parse::<SocketAddr>() {
                    Ok(a) => a,
                    Err(_) => return cx.err(
                        l.span(),
                        "server.listen",
                        format!("`{text}` is not an address:port"),
                        "write an IP address and port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
                    ),
                };
        }
        if let Some(m) = &s.max_body_bytes {
            let v = *m.get_ref();
            if v <= 0 || v > (1 << 30) {
                return cx.err(
                    m.span(),
                    "server.max_body_bytes",
                    format!("{v} is out of range"),
                    "use a size in bytes between 1 and 1073741824 (GitHub's own cap is 26214400)",
                );
            }
            server.max_body_bytes = v as usize;
        }
    }

    // [store]
    let store = StoreConfig {
        path: match raw.store.as_ref().and_then(|s| s.path.as_ref()) {
            Some(p) => {
                let v = cx.expand(p, "store.path")?;
                if v.trim().is_empty() {
                    return cx.err(
                        p.span(),
                        "store.path",
                        "is empty",
                        "name a file, e.g. \"hookbridge.db\", or \":memory:\"",
                    );
                }
                v
            }
            None => "hookbridge.db".into(),
        },
    };

    // [delivery]
    let defaults = DeliveryConfig::default();
    let delivery = match &raw.delivery {
        Some(d) => DeliveryConfig {
            timeout: cx.duration(&d.timeout, "delivery.timeout", defaults.timeout)?,
            max_age: cx.duration(&d.max_age, "delivery.max_age", defaults.max_age)?,
            min_interval: match &d.min_interval {
                Some(v) => {
                    let text = cx.expand(v, "delivery.min_interval")?;
                    match humantime::parse_duration(text.trim()) {
                        Ok(d) => Some(d),
                        Err(e) => return cx.err(
                            v.span(),
                            "delivery.min_interval",
                            format!("`{text}` is not a duration: {e}"),
                            "write e.g. \"1s\", or \"0s\" to send as fast as the platform answers",
                        ),
                    }
                }
                None => None,
            },
        },
        None => defaults,
    };

    // [templates]
    let base = base_dir_of(path);
    let templates_dir = match raw.templates.as_ref().and_then(|t| t.dir.as_ref()) {
        Some(d) => {
            let dir = base.join(cx.expand(d, "templates.dir")?);
            // Only the default `templates/` may be absent (embedded templates
            // then serve alone): a directory named on purpose must exist.
            if !dir.is_dir() {
                return cx.err(
                    d.span(),
                    "templates.dir",
                    format!("`{}` is not a directory", dir.display()),
                    "create it, or remove [templates] dir to use templates/ beside this file (or the embedded templates)",
                );
            }
            dir
        }
        None => base.join("templates"),
    };

    // [sources.*]
    let mut sources = BTreeMap::new();
    for (name, s) in &raw.sources {
        let key = format!("sources.{name}");
        check_name(&cx, name, &key, s.span())?;
        let src = s.get_ref();
        let Some(kind) = SourceKind::parse(src.kind.get_ref()) else {
            return cx.err(
                src.kind.span(),
                format!("{key}.kind"),
                format!("unknown source kind `{}`", src.kind.get_ref()),
                format!(
                    "use one of: {}",
                    list(SourceKind::ALL.iter().map(|k| k.as_str()))
                ),
            );
        };
        let mut secrets = Vec::new();
        if let Some(sec) = &src.secret {
            secrets.push((cx.expand(sec, &format!("{key}.secret"))?, sec.span()));
        }
        for sec in src.secrets.iter().flatten() {
            secrets.push((cx.expand(sec, &format!("{key}.secrets"))?, sec.span()));
        }
        for (value, span) in &secrets {
            if value.is_empty() {
                return cx.err(
                    span.clone(),
                    format!("{key}.secret"),
                    "the secret is empty",
                    "set the variable to the secret configured at the sender",
                );
            }
        }
        if secrets.is_empty() && !src.allow_unsigned {
            return cx.err(
                s.span(),
                key,
                "source has no secret, so anyone could post to it",
                "add secret = \"${VAR}\" with the secret configured at the sender, or allow_unsigned = true to accept unsigned deliveries knowingly",
            );
        }
        sources.insert(
            name.clone(),
            SourceConfig {
                name: name.clone(),
                kind,
                secrets: secrets.into_iter().map(|(v, _)| Secret::new(v)).collect(),
                allow_unsigned: src.allow_unsigned,
            },
        );
    }

    // [sinks.*]
    let mut sinks = BTreeMap::new();
    let mut disabled_sinks = Vec::new();
    for (name, s) in &raw.sinks {
        let key = format!("sinks.{name}");
        check_name(&cx, name, &key, s.span())?;
        let sink = s.get_ref();
        let kind = match sink.kind.get_ref().as_str() {
            "slack" => SinkKind::Slack,
            "discord" => SinkKind::Discord,
            "stdout" => SinkKind::Stdout,
            other => {
                return cx.err(
                    sink.kind.span(),
                    format!("{key}.kind"),
                    format!("unknown sink kind `{other}`"),
                    "use one of: slack, discord, stdout",
                );
            }
        };
        let token = match &sink.token {
            Some(t) => Some(Secret::new(cx.expand(t, &format!("{key}.token"))?)),
            None => None,
        };
        let webhook_url = match &sink.webhook_url {
            Some(w) => Some(Secret::new(cx.expand(w, &format!("{key}.webhook_url"))?)),
            None => None,
        };
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
        let token = token.filter(|t| !t.expose().is_empty());
        let webhook_url = webhook_url.filter(|w| !w.expose().is_empty());
        let written: Vec<(&Spanned<String>, &str)> = [
            sink.token.as_ref().map(|t| (t, "token")),
            sink.webhook_url.as_ref().map(|w| (w, "webhook_url")),
        ]
        .into_iter()
        .flatten()
        .collect();
        match kind {
            // Every credential written as `${VAR:-}` and expanding to
            // nothing: the operator opted in to running without this sink.
            // Empty any other way (`token = ""`, a variable set but empty)
            // is a mistake that would drop this sink's messages: an error.
            SinkKind::Slack | SinkKind::Discord
                if token.is_none() && webhook_url.is_none() && !written.is_empty() =>
            {
                if let Some((value, field)) = written.iter().find(|(v, _)| !opts_out(v.get_ref())) {
                    let var = variables(value.get_ref()).next();
                    let why = match var {
                        Some(v) => format!(
                            "the credential is empty: environment variable `{v}` is set but empty"
                        ),
                        None => "the credential is empty".to_string(),
                    };
                    let fix = match var {
                        Some(v) => format!(
                            "set {v} to the credential, or write ${{{v}:-}} to run without this sink"
                        ),
                        None => "write the credential (e.g. \"${NAME}\"), or \"${NAME:-}\" to run without this sink".to_string(),
                    };
                    return cx.err(value.span(), format!("{key}.{field}"), why, fix);
                }
                disabled_sinks.push(name.clone());
                continue;
            }
            SinkKind::Slack | SinkKind::Discord if token.is_none() && webhook_url.is_none() => {
                let (tok, hook) = if kind == SinkKind::Slack {
                    ("SLACK_BOT_TOKEN", "SLACK_WEBHOOK_URL")
                } else {
                    ("DISCORD_BOT_TOKEN", "DISCORD_WEBHOOK_URL")
                };
                return cx.err(
                    s.span(),
                    key,
                    format!("a {kind} sink needs a bot token or a webhook URL"),
                    format!("add token = \"${{{tok}}}\" (channel from the route) or webhook_url = \"${{{hook}}}\""),
                );
            }
            SinkKind::Stdout if token.is_some() || webhook_url.is_some() || api_base.is_some() => {
                return cx.err(
                    s.span(),
                    key,
                    "a stdout sink takes no token, webhook_url or api_base",
                    "remove those keys, or change kind to slack or discord",
                );
            }
            _ => {}
        }
        if let Some(w) = &webhook_url
            && !(w.expose().starts_with("https://") || w.expose().starts_with("http://"))
        {
            return cx.err(
                sink.webhook_url
                    .as_ref()
                    .map(|w| w.span())
                    .unwrap_or(s.span()),
                format!("{key}.webhook_url"),
                "is not an http(s) URL",
                "paste the webhook URL the platform gave you",
            );
        }
        sinks.insert(
            name.clone(),
            SinkConfig {
                name: name.clone(),
                kind,
                token,
                webhook_url,
                api_base,
            },
        );
    }

    // [[routes]]
    let mut routes = Vec::new();
    for (index, r) in raw.routes.iter().enumerate() {
        let key = |k: &str| format!("routes[{index}].{k}");
        let route = r.get_ref();
        if let Some(src) = &route.sources {
            cx.non_empty(src, &key("sources"))?;
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
        if route.to.get_ref().is_empty() {
            return cx.err(
                route.to.span(),
                key("to"),
                "a route must send somewhere",
                "list targets as \"sink\" or \"sink:channel\"",
            );
        }
        let mut to = Vec::new();
        for t in route.to.get_ref() {
            let target = Target::parse(t);
            if disabled_sinks.contains(&target.sink) {
                continue;
            }
            let Some(sink) = sinks.get(&target.sink) else {
                return cx.err(
                    route.to.span(),
                    key("to"),
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
                    route.to.span(),
                    key("to"),
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
                    route.to.span(),
                    key("to"),
                    why,
                    format!(
                        "write just \"{}\", or give the sink a bot token to choose channels",
                        target.sink
                    ),
                );
            }
            if !to.contains(&target) {
                to.push(target);
            }
        }
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
        routes.push(Route {
            index,
            line: cx.line(r.span().start),
            sources: route.sources.as_ref().map(|s| s.get_ref().clone()),
            repos: cx.patterns(&route.repos, &key("repos"), true)?,
            events: cx.names(&route.events, &key("events"))?,
            branches: cx.patterns(&route.branches, &key("branches"), false)?,
            exclude_authors: cx.patterns(&route.exclude_authors, &key("exclude_authors"), true)?,
            labels: cx.names(&route.labels, &key("labels"))?,
            exclude_labels: cx.names(&route.exclude_labels, &key("exclude_labels"))?,
            to,
            template: route.template.as_ref().map(|t| t.get_ref().clone()),
        });
    }

    Ok(Config {
        path: path.to_path_buf(),
        server,
        store,
        delivery,
        templates_dir,
        sources,
        sinks,
        disabled_sinks,
        routes,
    })
}

/// The dotted key a deserialization error is about (`server.max_body_bytes`,
/// `routes[1].events`, or the table a missing field belongs in), without the
/// fields `toml::Spanned` deserializes through.
fn key_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut key = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: k } | Segment::Enum { variant: k } => {
                if k.starts_with("$__serde_spanned") {
                    continue;
                }
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            Segment::Unknown => {}
        }
    }
    key
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

/// Source and sink names become URL paths and target prefixes.
fn check_name(
    cx: &Ctx<'_>,
    name: &str,
    key: &str,
    span: std::ops::Range<usize>,
) -> Result<(), ConfigError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return cx.err(
            span,
            key,
            format!("`{name}` is not a usable name"),
            "use letters, digits, `-`, `_` and `.` (it becomes part of a URL or a target)",
        );
    }
    Ok(())
}

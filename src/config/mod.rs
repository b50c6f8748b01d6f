//! `bridge.toml`: the typed configuration and its loading.
//!
//! Owns the file format (server, store, delivery, templates,
//! sources, sinks, routes), `${VAR}` expansion, and validation whose errors
//! name the file, the line, the key and the fix. Everything downstream works
//! on the validated [`Config`], never on raw TOML.

mod error;
mod pattern;
mod raw;

pub use error::ConfigError;
pub use pattern::{Pattern, PatternSet};

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default body cap: 25 MiB, GitHub's own limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// A validated `bridge.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from (for messages and for finding templates).
    pub path: PathBuf,
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub delivery: DeliveryConfig,
    /// Directory of template overrides (`templates/` next to the config file
    /// unless `[templates] dir` says otherwise).
    pub templates_dir: PathBuf,
    pub sources: BTreeMap<String, SourceConfig>,
    pub sinks: BTreeMap<String, SinkConfig>,
    /// Slack/Discord sinks whose credentials were written `${VAR:-}` and
    /// expanded to nothing: left out, with their route targets.
    pub disabled_sinks: Vec<String>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// SQLite file path (relative paths are relative to the config file), or
    /// `:memory:` for a store that does not survive a restart.
    pub path: String,
}

impl StoreConfig {
    pub fn is_memory(&self) -> bool {
        self.path == ":memory:"
    }
}

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Per-send timeout.
    pub timeout: Duration,
    /// A message older than this is given up (`dead`).
    pub max_age: Duration,
    /// Least time between two sends on one lane; `None`: the platform's
    /// published pace (Slack 1/s per channel, Discord 5 per 2 s).
    pub min_interval: Option<Duration>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout: Duration::from_secs(10),
            max_age: Duration::from_secs(24 * 3600),
            min_interval: None,
        }
    }
}

/// The kind of sender a source receives from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Github,
    Gitea,
    Forgejo,
    Gogs,
    Dagshub,
    Gitlab,
    Huggingface,
}

impl SourceKind {
    pub const ALL: [SourceKind; 7] = [
        SourceKind::Github,
        SourceKind::Gitea,
        SourceKind::Forgejo,
        SourceKind::Gogs,
        SourceKind::Dagshub,
        SourceKind::Gitlab,
        SourceKind::Huggingface,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Github => "github",
            SourceKind::Gitea => "gitea",
            SourceKind::Forgejo => "forgejo",
            SourceKind::Gogs => "gogs",
            SourceKind::Dagshub => "dagshub",
            SourceKind::Gitlab => "gitlab",
            SourceKind::Huggingface => "huggingface",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret value from the config: never printed, never serialised.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself: only for verifying and for authenticating to a
    /// platform, never for output.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    /// Any one of these may match (rotation). Empty only with `allow_unsigned`.
    pub secrets: Vec<Secret>,
    pub allow_unsigned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SinkKind {
    Slack,
    Discord,
    Stdout,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Slack => "slack",
            SinkKind::Discord => "discord",
            SinkKind::Stdout => "stdout",
        }
    }
}

impl fmt::Display for SinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub name: String,
    pub kind: SinkKind,
    /// Bot token (Slack `xoxb-…`, Discord bot token): channel comes from the route.
    pub token: Option<Secret>,
    /// Slack incoming webhook or Discord webhook URL: fixed channel.
    pub webhook_url: Option<Secret>,
    /// Base URL of the platform API, for tests and proxies.
    pub api_base: Option<String>,
}

impl SinkConfig {
    /// True when messages go through a bot token and so need a channel.
    pub fn needs_channel(&self) -> bool {
        self.kind != SinkKind::Stdout && self.token.is_some() && self.webhook_url.is_none()
    }
}

/// Where a message goes: a sink, and for bot-token sinks a channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub sink: String,
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
    pub sources: Option<Vec<String>>,
    pub repos: Option<PatternSet>,
    /// Dotted prefixes; `*` matches everything.
    pub events: Option<Vec<String>>,
    pub branches: Option<PatternSet>,
    pub exclude_authors: Option<PatternSet>,
    pub labels: Option<Vec<String>>,
    pub exclude_labels: Option<Vec<String>>,
    pub to: Vec<Target>,
    /// Template set name; `default` when absent.
    pub template: Option<String>,
}

impl Route {
    pub fn template_set(&self) -> &str {
        self.template.as_deref().unwrap_or("default")
    }
}

impl Config {
    /// Reads, expands and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            file: path.display().to_string(),
            source,
        })?;
        Config::from_str_with_env(&text, path, &|k| std::env::var(k).ok())
    }

    /// Parses config text; `env` resolves `${VAR}`.
    pub fn from_str_with_env(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        raw::parse(text, path, env)
    }

    /// The directory relative paths in the config are resolved against.
    pub fn base_dir(&self) -> &Path {
        base_dir_of(&self.path)
    }

    /// The store path, resolved against the config file's directory.
    pub fn store_path(&self) -> PathBuf {
        let p = Path::new(&self.store.path);
        if p.is_absolute() || self.store.is_memory() {
            p.to_path_buf()
        } else {
            self.base_dir().join(p)
        }
    }
}

pub(crate) fn base_dir_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests;

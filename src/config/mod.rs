//! `bridge.toml`: the typed configuration and its loading.
//!
//! Owns the file format (server, store, delivery, templates,
//! sources, sinks, routes), `${VAR}` expansion, and validation whose errors
//! name the file, the line, the key and the fix. Everything downstream works
//! on the validated [`Config`], never on raw TOML.
//!
//! Loading is two steps. `raw` reads the TOML into serde structs that keep
//! each value's span; then every section is validated by its own function
//! in `sections/` (`ServerConfig::from_raw`, `Route::from_raw`, ...), which
//! is also where that section's keys, defaults and typed form are
//! documented. `context` carries what they share (line numbers, `${VAR}`
//! expansion), and `duration` the bounds every duration key is held to.

mod context;
mod duration;
mod error;
mod pattern;
mod raw;
mod secret;
mod sections;

pub use error::ConfigError;
pub use pattern::{Pattern, PatternSet};
pub use secret::Secret;
pub use sections::delivery::DeliveryConfig;
pub use sections::routes::{Route, Target};
pub use sections::server::{DEFAULT_MAX_BODY_BYTES, MAX_BODY_BYTES_LIMIT, ServerConfig};
pub use sections::sinks::{SinkConfig, SinkKind};
pub use sections::sources::{SourceConfig, SourceKind};
pub use sections::store::StoreConfig;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A validated `bridge.toml`.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from (for messages and for finding templates).
    pub path: PathBuf,
    /// `[server]`: listen address and body cap.
    pub server: ServerConfig,
    /// `[store]`: where the outbox lives.
    pub store: StoreConfig,
    /// `[delivery]`: send timeout, retry horizon, pacing.
    pub delivery: DeliveryConfig,
    /// Directory of template overrides (`templates/` next to the config file
    /// unless `[templates] dir` says otherwise).
    pub templates_dir: PathBuf,
    /// `[sources.NAME]`, by name.
    pub sources: BTreeMap<String, SourceConfig>,
    /// `[sinks.NAME]`, by name, without the disabled ones.
    pub sinks: BTreeMap<String, SinkConfig>,
    /// Slack/Discord sinks whose credentials were written `${VAR:-}` and
    /// expanded to nothing: left out, with their route targets.
    pub disabled_sinks: Vec<String>,
    /// `[[routes]]`, in file order.
    pub routes: Vec<Route>,
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

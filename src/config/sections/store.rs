//! `[store]`: where the outbox and the dedup keys are kept.

use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigError;
use crate::config::context::Ctx;

/// The SQLite file used when `[store]` names none.
const DEFAULT_PATH: &str = "hookbridge.db";

/// `[store]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    /// `path = "hookbridge.db"` or `":memory:"`; `${VAR}` allowed.
    path: Option<Spanned<String>>,
}

/// Where messages are stored until they are sent.
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

    /// Validates `[store]`; without `path` the store is `hookbridge.db`
    /// beside the config file.
    pub(crate) fn from_raw(
        raw: Option<&RawStore>,
        cx: &Ctx<'_>,
    ) -> Result<StoreConfig, ConfigError> {
        let path = match raw.and_then(|s| s.path.as_ref()) {
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
            None => DEFAULT_PATH.into(),
        };
        Ok(StoreConfig { path })
    }
}

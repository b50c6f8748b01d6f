//! `[store]`: where the outbox and the dedup keys are kept: a SQLite file
//! (`path`, the default) or a PostgreSQL database (`url`).

use serde::Deserialize;
use toml::Spanned;

use crate::config::context::Ctx;
use crate::config::{ConfigError, Secret};

/// The SQLite file used when `[store]` names none.
const DEFAULT_PATH: &str = "hookbridge.db";

/// The URL schemes a PostgreSQL store accepts (libpq's two spellings).
const POSTGRES_SCHEMES: [&str; 2] = ["postgres", "postgresql"];

/// `[store]` as written: at most one of `path` and `url`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    /// `path = "hookbridge.db"` or `":memory:"`; `${VAR}` allowed.
    path: Option<Spanned<String>>,
    /// `url = "${HOOKBRIDGE_DATABASE_URL}"`: `postgres://user:pass@host/db`.
    url: Option<Spanned<String>>,
}

/// Where messages are stored until they are sent.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// SQLite file path (relative paths are relative to the config file), or
    /// `:memory:` for a store that does not survive a restart. When `url` is
    /// set the store is PostgreSQL and this keeps its default, unused.
    pub path: String,
    /// PostgreSQL connection URL (`postgres://` or `postgresql://`), instead
    /// of `path`. It carries a password: show it only through
    /// [`StoreConfig::redacted_url`].
    pub url: Option<Secret>,
}

impl StoreConfig {
    pub fn is_memory(&self) -> bool {
        self.path == ":memory:"
    }

    /// The PostgreSQL URL with its password (in the authority, or as a
    /// `password`-like query parameter) replaced by `***`: the only form of
    /// it fit for logs and `check`.
    pub fn redacted_url(&self) -> Option<String> {
        self.url.as_ref().map(|u| redact(u.expose()))
    }

    /// Where the store is, for an operator: the SQLite path, or the
    /// redacted PostgreSQL URL.
    pub fn location(&self) -> String {
        self.redacted_url().unwrap_or_else(|| self.path.clone())
    }

    /// Validates `[store]`: `path`, or `url`, or neither (`hookbridge.db`
    /// beside the config file); never both.
    pub(crate) fn from_raw(
        raw: Option<&RawStore>,
        cx: &Ctx<'_>,
    ) -> Result<StoreConfig, ConfigError> {
        let path = raw.and_then(|s| s.path.as_ref());
        let url = raw.and_then(|s| s.url.as_ref());
        if let (Some(_), Some(u)) = (path, url) {
            return cx.err(
                u.span(),
                "store.url",
                "`path` and `url` are both set: a store is a SQLite file or a PostgreSQL database",
                "keep `path` for SQLite, or `url` for PostgreSQL, and remove the other",
            );
        }
        let url = match url {
            Some(u) => Some(postgres_url(u, cx)?),
            None => None,
        };
        let path = match path {
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
        Ok(StoreConfig { path, url })
    }
}

/// Expands and checks `store.url`. The value carries a password, so no
/// message here repeats it.
fn postgres_url(value: &Spanned<String>, cx: &Ctx<'_>) -> Result<Secret, ConfigError> {
    const FIX: &str = "write url = \"${HOOKBRIDGE_DATABASE_URL}\" with the variable set to \
                       postgres://user:password@host:5432/database, or use `path` for SQLite";
    let url = Secret::new(cx.expand(value, "store.url")?);
    let text = url.expose().trim();
    if text.is_empty() {
        return cx.err(value.span(), "store.url", "is empty", FIX);
    }
    let scheme_ok = text.split_once("://").is_some_and(|(scheme, _)| {
        POSTGRES_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
    });
    if !scheme_ok {
        return cx.err(
            value.span(),
            "store.url",
            "is not a postgres:// or postgresql:// URL",
            FIX,
        );
    }
    if let Err(e) = url::Url::parse(text) {
        // url's messages name the problem ("invalid port number"), never
        // the input.
        return cx.err(
            value.span(),
            "store.url",
            format!("is not a valid URL: {e}"),
            "percent-encode special characters in the user name and password (`@` as %40, `/` as %2F), and check host and port",
        );
    }
    Ok(Secret::new(text))
}

/// `url` with every password replaced by `***`; a URL that does not parse
/// (never one that passed validation) is not shown at all.
fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url.trim()) else {
        return "(url not shown)".into();
    };
    if u.password().is_some() && u.set_password(Some("***")).is_err() {
        return format!("{}://***", u.scheme());
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.to_ascii_lowercase().contains("password") {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

//! `[server]`: where the service listens and how large a delivery it reads.

use std::net::SocketAddr;

use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigError;
use crate::config::context::Ctx;

/// Default body cap: 25 MiB, GitHub's own limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Largest `max_body_bytes` accepted: 1 GiB.
pub const MAX_BODY_BYTES_LIMIT: i64 = 1 << 30;

/// `[server]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    /// `listen = "address:port"`; `${VAR}` allowed.
    listen: Option<Spanned<String>>,
    /// `max_body_bytes = 26214400`.
    max_body_bytes: Option<Spanned<i64>>,
}

/// The HTTP server's settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address and port the webhook endpoint listens on
    /// (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Largest request body read; larger deliveries are answered 413
    /// (default [`DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl ServerConfig {
    /// Validates `[server]`; an absent section or key keeps the default.
    pub(crate) fn from_raw(
        raw: Option<&RawServer>,
        cx: &Ctx<'_>,
    ) -> Result<ServerConfig, ConfigError> {
        let mut server = ServerConfig::default();
        let Some(raw) = raw else { return Ok(server) };
        if let Some(l) = &raw.listen {
            let text = cx.expand(l, "server.listen")?;
            server.listen = match text.trim().parse::<SocketAddr>() {
                Ok(a) => a,
                Err(_) => {
                    return cx.err(
                        l.span(),
                        "server.listen",
                        format!("`{text}` is not an address:port"),
                        "write an IP address and port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\"",
                    );
                }
            };
        }
        if let Some(m) = &raw.max_body_bytes {
            let v = *m.get_ref();
            if v <= 0 || v > MAX_BODY_BYTES_LIMIT {
                return cx.err(
                    m.span(),
                    "server.max_body_bytes",
                    format!("{v} is out of range"),
                    "use a size in bytes between 1 and 1073741824 (GitHub's own cap is 26214400)",
                );
            }
            server.max_body_bytes = v as usize;
        }
        Ok(server)
    }
}

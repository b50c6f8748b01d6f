//! `[delivery]`: how long a send may take, how long a message is retried,
//! and how fast one lane sends.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigError;
use crate::config::context::Ctx;

/// `[delivery]` as written: durations such as `"10s"`, `"24h"`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDelivery {
    /// `timeout = "10s"`.
    timeout: Option<Spanned<String>>,
    /// `max_age = "24h"`.
    max_age: Option<Spanned<String>>,
    /// `min_interval = "1s"`; absent: the platform's pace.
    min_interval: Option<Spanned<String>>,
}

/// The outbox workers' timing.
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

impl DeliveryConfig {
    /// Validates `[delivery]`; an absent section or key keeps the default.
    pub(crate) fn from_raw(
        raw: Option<&RawDelivery>,
        cx: &Ctx<'_>,
    ) -> Result<DeliveryConfig, ConfigError> {
        let defaults = DeliveryConfig::default();
        let Some(raw) = raw else { return Ok(defaults) };
        Ok(DeliveryConfig {
            timeout: duration(cx, &raw.timeout, "delivery.timeout", defaults.timeout)?,
            max_age: duration(cx, &raw.max_age, "delivery.max_age", defaults.max_age)?,
            min_interval: match &raw.min_interval {
                Some(v) => {
                    let text = cx.expand(v, "delivery.min_interval")?;
                    match humantime::parse_duration(text.trim()) {
                        Ok(d) => Some(d),
                        Err(e) => {
                            return cx.err(
                                v.span(),
                                "delivery.min_interval",
                                format!("`{text}` is not a duration: {e}"),
                                "write e.g. \"1s\", or \"0s\" to send as fast as the platform answers",
                            );
                        }
                    }
                }
                None => None,
            },
        })
    }
}

fn duration(
    cx: &Ctx<'_>,
    value: &Option<Spanned<String>>,
    key: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(v) = value else { return Ok(default) };
    let text = cx.expand(v, key)?;
    match humantime::parse_duration(text.trim()) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => cx.err(
            v.span(),
            key,
            "must be longer than zero",
            "write e.g. \"10s\"",
        ),
        Err(e) => cx.err(
            v.span(),
            key,
            format!("`{text}` is not a duration: {e}"),
            "write a number with a unit, e.g. \"10s\", \"5m\", \"24h\"",
        ),
    }
}

//! `[delivery]`: how long a send may take, how long a message is retried,
//! and how fast one lane sends.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigError;
use crate::config::context::Ctx;
use crate::config::duration::{MAX_AGE, MIN_INTERVAL, TIMEOUT};

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
    /// Each duration is held to its bounds (`duration.rs`).
    pub(crate) fn from_raw(
        raw: Option<&RawDelivery>,
        cx: &Ctx<'_>,
    ) -> Result<DeliveryConfig, ConfigError> {
        let defaults = DeliveryConfig::default();
        let Some(raw) = raw else { return Ok(defaults) };
        Ok(DeliveryConfig {
            timeout: TIMEOUT
                .parse(cx, raw.timeout.as_ref())?
                .unwrap_or(defaults.timeout),
            max_age: MAX_AGE
                .parse(cx, raw.max_age.as_ref())?
                .unwrap_or(defaults.max_age),
            min_interval: MIN_INTERVAL.parse(cx, raw.min_interval.as_ref())?,
        })
    }
}

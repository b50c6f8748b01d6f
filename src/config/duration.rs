//! Durations in the config (`"10s"`, `"24h"`): parsed with humantime and held
//! to bounds. The bounds are operational (a send that may hang for a day is
//! a mistake, not a setting), and they also keep every duration within what
//! the rest of the service computes with: the store keeps ages as `i64`
//! milliseconds and the workers add durations to `Instant` and `SystemTime`,
//! all of which overflow (or panic) long before `u64` seconds do.

use std::time::Duration;

use toml::Spanned;

use super::ConfigError;
use super::context::Ctx;

/// The range a duration key accepts, as values and as the operator writes
/// them.
#[derive(Debug)]
pub(crate) struct Bounds {
    /// The dotted key, for messages and tests.
    pub(crate) key: &'static str,
    /// Shortest accepted value (inclusive).
    pub(crate) min: Duration,
    /// Longest accepted value (inclusive).
    pub(crate) max: Duration,
    /// `min` as written in a config, e.g. `"1s"`.
    pub(crate) min_text: &'static str,
    /// `max` as written in a config, e.g. `"10m"`.
    pub(crate) max_text: &'static str,
    /// A sensible value and what it does, for the fix.
    pub(crate) example: &'static str,
}

const MINUTE: u64 = 60;
const DAY: u64 = 24 * 3600;

/// `delivery.timeout`: one send to a platform. Under a second fails sends
/// that are merely slow; over ten minutes holds a lane on a dead connection.
pub(crate) const TIMEOUT: Bounds = Bounds {
    key: "delivery.timeout",
    min: Duration::from_secs(1),
    max: Duration::from_secs(10 * MINUTE),
    min_text: "1s",
    max_text: "10m",
    example: "\"10s\" (the longest one send may take)",
};

/// `delivery.max_age`: how long a message is retried before it is `dead`.
/// Zero makes every message dead before its first send; a second is the
/// floor (short, so a test can watch a message age out); over a year is a
/// typo.
pub(crate) const MAX_AGE: Bounds = Bounds {
    key: "delivery.max_age",
    min: Duration::from_secs(1),
    max: Duration::from_secs(365 * DAY),
    min_text: "1s",
    max_text: "365d",
    example: "\"24h\" (a message not delivered by then is given up)",
};

/// `delivery.min_interval`: the least time between two sends on one lane.
/// Zero sends as fast as the platform answers; over ten minutes a lane
/// cannot keep up with a single busy repository.
pub(crate) const MIN_INTERVAL: Bounds = Bounds {
    key: "delivery.min_interval",
    min: Duration::ZERO,
    max: Duration::from_secs(10 * MINUTE),
    min_text: "0s",
    max_text: "10m",
    example: "\"1s\", or \"0s\" to send as fast as the platform answers",
};

/// Every duration key the config has.
pub(crate) const ALL: [&Bounds; 3] = [&TIMEOUT, &MAX_AGE, &MIN_INTERVAL];

/// True when `b` is a range whose every value the store can keep as `i64`
/// milliseconds.
const fn storable(b: &Bounds) -> bool {
    b.min.as_nanos() <= b.max.as_nanos() && b.max.as_millis() <= i64::MAX as u128
}

// Widening a bound past what the store holds fails the build; the clock's
// range depends on the platform, so a test checks that one.
const _: () = {
    let mut i = 0;
    while i < ALL.len() {
        assert!(storable(ALL[i]));
        i += 1;
    }
};

impl Bounds {
    /// Parses the value of this key (after `${VAR}` expansion), or `None`
    /// when the key is not written.
    pub(crate) fn parse(
        &self,
        cx: &Ctx<'_>,
        value: Option<&Spanned<String>>,
    ) -> Result<Option<Duration>, ConfigError> {
        let Some(v) = value else { return Ok(None) };
        let text = cx.expand(v, self.key)?;
        let d = match humantime::parse_duration(text.trim()) {
            Ok(d) => d,
            Err(e) => {
                return cx.err(
                    v.span(),
                    self.key,
                    format!("`{text}` is not a duration: {e}"),
                    format!(
                        "write a number with a unit, from {} to {}, e.g. {}",
                        self.min_text, self.max_text, self.example
                    ),
                );
            }
        };
        if d < self.min || d > self.max {
            return cx.err(
                v.span(),
                self.key,
                format!(
                    "`{text}` is out of range: it must be from {} to {}",
                    self.min_text, self.max_text
                ),
                format!(
                    "write a duration from {} to {}, e.g. {}",
                    self.min_text, self.max_text, self.example
                ),
            );
        }
        Ok(Some(d))
    }
}

//! Sinks: the clients that post rendered messages to Slack (slack-morphism),
//! Discord (serenity's HTTP client) and stdout, and classify each answer
//! into sent / rate-limited / retry / permanent for the outbox.
//!
//! INTERFACE STUB: to be implemented.

use std::time::Duration;

use crate::config::SinkConfig;

/// What happened to one send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The platform took it. `wait`: how long before this lane may send
    /// again (e.g. Discord `X-RateLimit-Remaining: 0` + `Reset-After`).
    Sent { wait: Option<Duration> },
    /// 429 (or Slack `ratelimited`): try again after this long.
    RateLimited { retry_after: Duration },
    /// 5xx, timeout, connection error, Slack `internal_error`…: retry with backoff.
    Retry { error: String },
    /// Any other 4xx, Slack `invalid_auth`, `channel_not_found`…: dead now.
    Permanent { error: String },
}

/// A configured sink, ready to post.
pub struct Sink {}

impl Sink {
    /// Builds the client for `cfg`; `timeout` bounds every send.
    pub fn new(cfg: &SinkConfig, timeout: Duration) -> anyhow::Result<Sink> {
        let _ = (cfg, timeout);
        todo!()
    }

    /// Posts one stored request body (the JSON from `render::request_body`)
    /// to `channel` (the lane's channel: Slack channel, also in the body;
    /// Discord channel id, in the URL; `None` for webhook and stdout sinks).
    /// Never panics and never blocks past the timeout.
    pub async fn send(&self, channel: Option<&str>, body: &str) -> Outcome {
        let _ = (channel, body);
        todo!()
    }

    /// The least time between two sends on one lane (Slack ~1/s per
    /// channel, Discord webhooks 5 per 2 s).
    pub fn min_interval(&self) -> Duration {
        todo!()
    }
}

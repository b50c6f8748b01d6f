//! Sinks: the clients that post rendered messages to Slack (reqwest),
//! Discord (serenity's HTTP client) and stdout, and classify each answer
//! into sent / rate-limited / retry / permanent for the outbox.
//!
//! A [`Sink`] never paces itself and never retries: the platform clients'
//! own rate limiters are off, and the outbox decides when to send again from
//! the [`Outcome`]. Every send is bounded by the configured timeout. No
//! error string or `Debug` output carries a token or a webhook URL.

mod discord;
mod slack;
mod stdout;

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::config::{SinkConfig, SinkKind};

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

impl Outcome {
    pub(crate) fn retry(error: impl Into<String>) -> Outcome {
        Outcome::Retry {
            error: error.into(),
        }
    }

    pub(crate) fn permanent(error: impl Into<String>) -> Outcome {
        Outcome::Permanent {
            error: error.into(),
        }
    }
}

/// Retry-After used when a platform says "slow down" without saying how long.
/// One platform call of a thread (see `threads`).
#[derive(Debug, Clone, Copy)]
pub enum ThreadCall<'a> {
    /// A new top-level message that starts the item's thread; `title`
    /// names the thread where the platform names threads (Discord).
    Parent { title: &'a str },
    /// A reply in the thread of `ids`; `broadcast`: shown in the channel too.
    Reply {
        ids: &'a crate::outbox::ThreadIds,
        broadcast: bool,
    },
    /// Edits the message of `ids`; `in_thread`: it is a reply, not the parent.
    Edit {
        ids: &'a crate::outbox::ThreadIds,
        in_thread: bool,
    },
    /// A short top-level line linking the thread of `ids` (Discord bot).
    Line { ids: &'a crate::outbox::ThreadIds },
}

/// What became of a [`ThreadCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadOutcome {
    /// Done; the new message's ids for a post.
    Done(Option<crate::outbox::ThreadIds>),
    /// The platform has forgotten the message or thread called on
    /// (deleted, archived, locked): start a new parent instead.
    Gone(String),
    /// Not done: what the outbox makes of it as of any send.
    Failed(Outcome),
}

pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Longest wait taken from a platform header or body; anything larger is
/// treated as this (a broken or hostile answer must not park a lane forever).
pub(crate) const MAX_PLATFORM_WAIT: Duration = Duration::from_secs(24 * 3600);

/// A configured sink, ready to post.
pub struct Sink {
    name: String,
    kind: SinkKind,
    client: Client,
    timeout: Duration,
    redactor: Redactor,
}

enum Client {
    Slack(slack::Slack),
    Discord(discord::Discord),
    Stdout,
}

impl Sink {
    /// The platform whose markup and body this sink posts.
    pub fn platform(&self) -> crate::render::Platform {
        crate::render::Platform::for_sink(self.kind)
    }

    /// Builds the client for `cfg`; `timeout` bounds every send.
    pub fn new(cfg: &SinkConfig, timeout: Duration) -> anyhow::Result<Sink> {
        let client = match cfg.kind {
            SinkKind::Slack => Client::Slack(slack::Slack::new(cfg)?),
            SinkKind::Discord => Client::Discord(discord::Discord::new(cfg)?),
            SinkKind::Stdout => Client::Stdout,
        };
        Ok(Sink {
            name: cfg.name.clone(),
            kind: cfg.kind,
            client,
            timeout,
            redactor: Redactor::for_sink(cfg),
        })
    }

    /// The sink's name in `bridge.toml`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Posts one stored message (a card, or an older version's text) to
    /// `channel` (the lane's channel: Slack channel, also in the body;
    /// Discord channel id, in the URL; `None` for webhook and stdout
    /// sinks), in the platform's request body (`render::request_body`).
    /// Never panics and never blocks past the timeout.
    pub async fn send(&self, channel: Option<&str>, message: &str) -> Outcome {
        let outcome = match &self.client {
            Client::Stdout => {
                let text = crate::render::plain_text(&crate::render::Card::from_stored(message));
                bounded(self.timeout, stdout::print(&self.name, channel, &text)).await
            }
            Client::Slack(s) => bounded(self.timeout, s.send(channel, message)).await,
            Client::Discord(d) => bounded(self.timeout, d.send(channel, message)).await,
        };
        self.redactor.outcome(outcome)
    }

    /// One threaded call: post a parent, reply, edit, or a line linking a
    /// thread. `message` is the stored card to post or to edit to.
    pub async fn thread(
        &self,
        channel: Option<&str>,
        message: &str,
        call: ThreadCall<'_>,
    ) -> ThreadOutcome {
        let call = async {
            match &self.client {
                Client::Slack(s) => s.thread(channel, message, &call).await,
                Client::Discord(d) => d.thread(channel, message, &call).await,
                Client::Stdout => ThreadOutcome::Failed(Outcome::permanent("stdout cannot thread")),
            }
        };
        let outcome = match tokio::time::timeout(self.timeout, call).await {
            Ok(o) => o,
            Err(_) => ThreadOutcome::Failed(Outcome::retry(format!(
                "no answer within {}",
                humantime::format_duration(self.timeout)
            ))),
        };
        match outcome {
            ThreadOutcome::Failed(o) => ThreadOutcome::Failed(self.redactor.outcome(o)),
            ThreadOutcome::Gone(e) => ThreadOutcome::Gone(self.redactor.text(e)),
            done => done,
        }
    }

    /// Claims the sink's next send for the caller: `None` when it may send
    /// now, else when it may try again. Sink-wide limits only: a Discord
    /// global rate limit, and a Discord bot's 50 requests/s across its
    /// channels.
    pub fn claim_send(&self) -> Option<std::time::Instant> {
        match &self.client {
            Client::Discord(d) => d.claim(),
            Client::Slack(_) | Client::Stdout => None,
        }
    }

    /// Takes over what `old` (the same sink before a reload) knows of the
    /// platform's sink-wide limits, so a reload does not release lanes
    /// that a Discord global rate limit still holds.
    pub fn inherit_limits(&self, old: &Sink) {
        if let (Client::Discord(new), Client::Discord(old)) = (&self.client, &old.client) {
            new.inherit_gate(old);
        }
    }

    /// The least time between two sends on one lane (Slack ~1/s per
    /// channel, Discord webhooks 5 per 2 s).
    pub fn min_interval(&self) -> Duration {
        match self.client {
            Client::Slack(_) => Duration::from_secs(1),
            Client::Discord(_) => Duration::from_millis(400),
            Client::Stdout => Duration::ZERO,
        }
    }
}

impl fmt::Debug for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (platform, mode) = match &self.client {
            Client::Slack(s) => ("slack", s.mode_name()),
            Client::Discord(d) => ("discord", d.mode_name()),
            Client::Stdout => ("stdout", "print"),
        };
        f.debug_struct("Sink")
            .field("name", &self.name)
            .field("platform", &platform)
            .field("mode", &mode)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Runs one platform call, turning "no answer in time" into a retry.
async fn bounded(timeout: Duration, call: impl Future<Output = Outcome>) -> Outcome {
    match tokio::time::timeout(timeout, call).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::retry(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        )),
    }
}

/// Seconds (possibly fractional, as platforms send them) to a wait,
/// `None` when not a usable number.
pub(crate) fn secs_to_duration(secs: f64) -> Option<Duration> {
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(
        secs.min(MAX_PLATFORM_WAIT.as_secs_f64()),
    ))
}

/// An answer's body, at most `max` bytes of it (lossy UTF-8): the rest is
/// never read, however much the platform sends.
pub(crate) async fn read_capped(mut response: reqwest::Response, max: usize) -> String {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = max - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= max {
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

/// A platform's answer body cut to a size fit for `last_error`.
pub(crate) fn excerpt(body: &str) -> String {
    const MAX: usize = 300;
    let body = body.trim();
    if body.len() <= MAX {
        return body.to_string();
    }
    let mut end = MAX;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &body[..end])
}

/// An error and its sources, one line, for error strings.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = e.source();
    }
    out
}

/// Removes a sink's secrets (token, webhook URL and the parts of it that
/// authenticate) from any text before it leaves the sink.
struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    fn for_sink(cfg: &SinkConfig) -> Redactor {
        let mut secrets = Vec::new();
        if let Some(t) = &cfg.token {
            secrets.push(t.expose().to_string());
        }
        if let Some(w) = &cfg.webhook_url {
            let w = w.expose();
            secrets.push(w.to_string());
            if let Ok(url) = url::Url::parse(w) {
                secrets.push(url.path().to_string());
                // Slack: /services/T…/B…/<secret>; Discord: /webhooks/<id>/<token>.
                if let Some(last) = url
                    .path_segments()
                    .and_then(|s| s.rev().find(|p| !p.is_empty()))
                {
                    secrets.push(last.to_string());
                }
            }
        }
        // Short fragments would blank out ordinary words; real tokens are long.
        secrets.retain(|s| s.len() >= 8);
        // Longest first, so a URL is replaced whole before its parts.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    fn text(&self, mut s: String) -> String {
        for secret in &self.secrets {
            if s.contains(secret.as_str()) {
                s = s.replace(secret.as_str(), "***");
            }
        }
        s
    }

    fn outcome(&self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Retry { error } => Outcome::Retry {
                error: self.text(error),
            },
            Outcome::Permanent { error } => Outcome::Permanent {
                error: self.text(error),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;

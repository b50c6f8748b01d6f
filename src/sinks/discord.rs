//! The Discord sink: execute-webhook (`wait=true`) or create-message with a
//! bot token, through serenity's HTTP client (its rate limiter off), and the
//! mapping of Discord's answers and `X-RateLimit-*` headers to [`Outcome`]s.
//!
//! serenity's `Http::request` hands back the raw response only on success;
//! on an error it decodes the body as `{code, message}` and drops the headers,
//! which loses a 429's `Retry-After` and `retry_after`. So a send builds its
//! request with serenity (`Request` + `Route`, the `Http`'s token and base
//! URL) and executes it on the same reqwest client, reading every answer raw.

use std::num::NonZeroU64;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER};
use serenity::http::{Http, HttpBuilder, LightMethod, Request, Route};
use serenity::model::id::{ChannelId, WebhookId};
use url::Url;

use super::{DEFAULT_RETRY_AFTER, Outcome, error_chain, excerpt, read_capped, secs_to_duration};
use crate::config::SinkConfig;
use crate::render::{Platform, request_body};

pub(super) struct Discord {
    http: Http,
    client: reqwest::Client,
    mode: Mode,
    /// The earliest moment any lane of this sink may send: pushed out by a
    /// global rate limit, and, for a bot token, by the bot-wide pace.
    gate: Mutex<Instant>,
}

/// A bot's requests across all its channels: Discord allows 50 a second.
const BOT_GLOBAL_INTERVAL: Duration = Duration::from_millis(20);
/// The most of an answer's body read (it is only ever shown as an excerpt).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

enum Mode {
    Bot,
    Webhook(WebhookUrl),
}

/// The parts of a Discord webhook URL (`…/webhooks/<id>/<token>`).
#[derive(PartialEq, Eq)]
pub(super) struct WebhookUrl {
    pub(super) id: WebhookId,
    pub(super) token: String,
    /// `?thread_id=` of the URL: post into that thread.
    pub(super) thread_id: Option<ChannelId>,
    /// Where to send when the URL is not Discord's own host (a stand-in or
    /// proxy): its origin plus any path before `/api`.
    pub(super) base: Option<String>,
}

impl Discord {
    pub(super) fn new(cfg: &SinkConfig) -> anyhow::Result<Discord> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            // A redirect would carry the webhook token to another place.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the Discord HTTP client")?;
        let (token, mode) = match (&cfg.webhook_url, &cfg.token) {
            (Some(w), _) => {
                let hook = parse_webhook_url(w.expose())
                    .with_context(|| format!("sink `{}`: bad webhook_url", cfg.name))?;
                // A webhook authenticates with the token in its URL, not a header.
                (String::new(), Mode::Webhook(hook))
            }
            (None, Some(t)) => (t.expose().to_string(), Mode::Bot),
            (None, None) => bail!(
                "sink `{}`: a discord sink needs a bot token or a webhook URL",
                cfg.name
            ),
        };
        let base = match (&cfg.api_base, &mode) {
            (Some(api_base), _) => {
                Url::parse(api_base)
                    .with_context(|| format!("sink `{}`: api_base is not a valid URL", cfg.name))?;
                Some(proxy_from_api_base(api_base))
            }
            (None, Mode::Webhook(hook)) => hook.base.clone(),
            (None, Mode::Bot) => None,
        };
        // serenity only honours a custom base with its rate limiter off, and
        // that limiter would retry 429s by itself without end: the outbox paces.
        let mut builder = HttpBuilder::new(token)
            .client(client.clone())
            .ratelimiter_disabled(true);
        if let Some(base) = base {
            builder = builder.proxy(base);
        }
        Ok(Discord {
            http: builder.build(),
            client,
            mode,
            gate: Mutex::new(Instant::now()),
        })
    }

    /// Claims the next send: `None` when it may go now (a bot's pace then
    /// holds the next one for [`BOT_GLOBAL_INTERVAL`]), or when it may go.
    /// Check and claim are one step, so two lanes cannot both slip through.
    pub(super) fn claim(&self) -> Option<Instant> {
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if *gate > now {
            return Some(*gate);
        }
        if matches!(self.mode, Mode::Bot) {
            *gate = now + BOT_GLOBAL_INTERVAL;
        }
        None
    }

    /// Keeps `old`'s gate (a global limit still running) across a reload.
    pub(super) fn inherit_gate(&self, old: &Discord) {
        let until = *old.gate.lock().unwrap_or_else(PoisonError::into_inner);
        self.close_gate(until);
    }

    /// Pushes the gate out to `until` (never pulls it in).
    pub(super) fn close_gate(&self, until: Instant) {
        let mut gate = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
        *gate = (*gate).max(until);
    }

    pub(super) fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Bot => "bot token",
            Mode::Webhook(_) => "webhook",
        }
    }

    /// Posts `message` in an execute-webhook / create-message body.
    pub(super) async fn send(&self, channel: Option<&str>, message: &str) -> Outcome {
        let bytes = Some(
            request_body(Platform::Discord, channel, message)
                .to_string()
                .into_bytes(),
        );
        let request = match &self.mode {
            Mode::Webhook(hook) => {
                let mut params = vec![("wait", "true".to_string())];
                if let Some(thread) = hook.thread_id {
                    params.push(("thread_id", thread.to_string()));
                }
                let route = Route::WebhookWithToken {
                    webhook_id: hook.id,
                    token: &hook.token,
                };
                Request::new(route, LightMethod::Post)
                    .body(bytes)
                    .params(Some(params))
            }
            Mode::Bot => {
                let Some(channel_id) = channel.and_then(parse_channel_id) else {
                    return Outcome::permanent(match channel {
                        Some(c) => format!("`{c}` is not a Discord channel id (a number)"),
                        None => "no Discord channel id for a bot-token sink: give the route target one (sink:<channel id>)".to_string(),
                    });
                };
                Request::new(Route::ChannelMessages { channel_id }, LightMethod::Post).body(bytes)
            }
        };
        let built = request
            .build(&self.client, self.http.token(), self.http.proxy.as_deref())
            .map_err(|e| format!("building the Discord request: {}", error_chain(&e)))
            .and_then(|b| {
                b.build().map_err(|e| {
                    format!(
                        "building the Discord request: {}",
                        error_chain(&e.without_url())
                    )
                })
            });
        let mut request = match built {
            Ok(r) => r,
            Err(e) => return Outcome::permanent(e),
        };
        if matches!(self.mode, Mode::Webhook(_)) {
            request.headers_mut().remove(AUTHORIZATION);
        }
        let response = match self.client.execute(request).await {
            Ok(r) => r,
            Err(e) => return Outcome::retry(describe_reqwest_error(e)),
        };
        let status = response.status().as_u16();
        let status_text = response.status().to_string();
        let headers = response.headers().clone();
        // The status line is the answer; a body that fails to arrive after a
        // 2xx does not undo the post.
        let body = read_capped(response, MAX_ANSWER_BYTES).await;
        let outcome = classify(status, &status_text, &headers, &body);
        // A global limit holds every lane of this sink, not just this one.
        if let Outcome::RateLimited { retry_after } = &outcome
            && is_global(&headers, &body)
        {
            tracing::warn!(retry_after = %humantime::format_duration(*retry_after),
                "Discord global rate limit: every channel of this sink waits");
            self.close_gate(Instant::now() + *retry_after);
        }
        outcome
    }
}

/// A 429 that applies to the whole bot or webhook, not one route:
/// `X-RateLimit-Global`, `X-RateLimit-Scope: global`, or `"global": true`.
pub(super) fn is_global(headers: &HeaderMap, body: &str) -> bool {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_ascii_lowercase())
    };
    header("x-ratelimit-global").is_some_and(|v| v == "true")
        || header("x-ratelimit-scope").is_some_and(|v| v == "global")
        || serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("global").and_then(serde_json::Value::as_bool))
            .unwrap_or(false)
}

/// Maps one Discord answer to an [`Outcome`].
pub(super) fn classify(status: u16, status_text: &str, headers: &HeaderMap, body: &str) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Sent {
            wait: bucket_wait(headers),
        };
    }
    if status == 429 {
        let from_body = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64))
            .and_then(secs_to_duration);
        let from_header = header_f64(headers, RETRY_AFTER.as_str()).and_then(secs_to_duration);
        return Outcome::RateLimited {
            retry_after: from_body.or(from_header).unwrap_or(DEFAULT_RETRY_AFTER),
        };
    }
    let detail = error_detail(body);
    let error = if detail.is_empty() {
        format!("Discord HTTP {status_text}")
    } else {
        format!("Discord HTTP {status_text}: {detail}")
    };
    if status == 408 || (500..600).contains(&status) {
        Outcome::retry(error)
    } else {
        Outcome::permanent(error)
    }
}

/// `X-RateLimit-Remaining: 0` means the bucket is empty until `Reset-After`.
fn bucket_wait(headers: &HeaderMap) -> Option<std::time::Duration> {
    let remaining = header_f64(headers, "x-ratelimit-remaining")?;
    if remaining > 0.0 {
        return None;
    }
    header_f64(headers, "x-ratelimit-reset-after").and_then(secs_to_duration)
}

fn header_f64(headers: &HeaderMap, name: &str) -> Option<f64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Discord's `{"message": …, "code": …}`, or the body as it came.
fn error_detail(body: &str) -> String {
    let parsed = serde_json::from_str::<serde_json::Value>(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(serde_json::Value::as_str);
    match message {
        Some(message) => {
            let code = parsed
                .as_ref()
                .and_then(|v| v.get("code"))
                .and_then(serde_json::Value::as_i64)
                .filter(|c| *c != 0);
            match code {
                Some(code) => format!("{} (code {code})", excerpt(message)),
                None => excerpt(message),
            }
        }
        None => excerpt(body),
    }
}

/// A reqwest failure without its URL (which holds a webhook's token).
fn describe_reqwest_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "Discord request timed out"
    } else if e.is_connect() {
        "Discord connection error"
    } else {
        "Discord request failed"
    };
    format!("{kind}: {}", error_chain(&e.without_url()))
}

fn parse_channel_id(channel: &str) -> Option<ChannelId> {
    channel
        .trim()
        .parse::<NonZeroU64>()
        .ok()
        .map(ChannelId::from)
}

/// The `proxy` serenity wants (it replaces `https://discord.com`, so the
/// path `/api/v10/…` follows it) from an `api_base` that may already end
/// in `/api/v10/`.
pub(super) fn proxy_from_api_base(api_base: &str) -> String {
    let base = api_base.trim_end_matches('/');
    let without_version = match base.rsplit_once('/') {
        Some((rest, last)) if is_version(last) => rest,
        _ => base,
    };
    match without_version.strip_suffix("/api") {
        Some(origin) => origin.to_string(),
        None => base.to_string(),
    }
}

/// `v10`, `v9`…: an API version path segment.
fn is_version(segment: &str) -> bool {
    segment.len() > 1
        && segment.starts_with('v')
        && segment[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Parses `…/webhooks/<id>/<token>[?thread_id=…]`. Errors name no part of
/// the URL: the token is in it.
pub(super) fn parse_webhook_url(raw: &str) -> anyhow::Result<WebhookUrl> {
    let url = Url::parse(raw).map_err(|e| anyhow!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!("not an http(s) URL");
    }
    let segments: Vec<&str> = url.path_segments().map(|s| s.collect()).unwrap_or_default();
    let at = segments
        .iter()
        .position(|s| *s == "webhooks")
        .ok_or_else(|| anyhow!("expected a path of the form …/webhooks/<id>/<token>"))?;
    let (id, token) = match &segments[at + 1..] {
        [id, token] | [id, token, ""] => (*id, *token),
        _ => bail!("expected the path to end in /webhooks/<id>/<token>"),
    };
    let id = id
        .parse::<NonZeroU64>()
        .map_err(|_| anyhow!("the webhook id is not a number"))?;
    if token.is_empty() {
        bail!("the webhook token is empty");
    }
    let thread_id = match url.query_pairs().find(|(k, _)| k == "thread_id") {
        Some((_, v)) => Some(
            v.parse::<NonZeroU64>()
                .map(ChannelId::from)
                .map_err(|_| anyhow!("thread_id is not a number"))?,
        ),
        None => None,
    };
    let host = url.host_str().unwrap_or_default();
    let is_discord = ["discord.com", "discordapp.com"]
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")));
    let base = if is_discord {
        None
    } else {
        // Keep any path before `/api[/vN]/webhooks`; serenity adds `/api/v10`.
        let mut prefix = &segments[..at];
        if let [rest @ .., v] = prefix
            && is_version(v)
        {
            prefix = rest;
        }
        if let [rest @ .., "api"] = prefix {
            prefix = rest;
        }
        let mut base = url.origin().ascii_serialization();
        for s in prefix.iter().filter(|s| !s.is_empty()) {
            base.push('/');
            base.push_str(s);
        }
        Some(base)
    };
    Ok(WebhookUrl {
        id: WebhookId::from(id),
        token: token.to_string(),
        thread_id,
        base,
    })
}

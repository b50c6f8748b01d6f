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
use serenity::model::id::{ChannelId, MessageId, WebhookId};
use url::Url;

use super::{
    DEFAULT_RETRY_AFTER, Outcome, ThreadCall, ThreadOutcome, error_chain, excerpt, read_capped,
    secs_to_duration,
};
use crate::config::SinkConfig;
use crate::outbox::ThreadIds;
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
        let body = request_body(Platform::Discord, channel, message);
        let request = match &self.mode {
            Mode::Webhook(hook) => {
                let thread = hook.thread_id.map(|t| t.to_string());
                self.webhook_post(hook, &body, thread.as_deref(), None)
            }
            Mode::Bot => match bot_channel(channel) {
                Ok(channel_id) => {
                    Request::new(Route::ChannelMessages { channel_id }, LightMethod::Post)
                        .body(Some(body.to_string().into_bytes()))
                }
                Err(e) => return e,
            },
        };
        self.execute(request).await.0
    }

    /// An execute-webhook request (`wait=true`, into `thread`, naming a new
    /// forum post `thread_name`).
    fn webhook_post<'a>(
        &self,
        hook: &'a WebhookUrl,
        body: &serde_json::Value,
        thread: Option<&str>,
        thread_name: Option<&str>,
    ) -> Request<'a> {
        let mut params = vec![("wait", "true".to_string())];
        if let Some(thread) = thread {
            params.push(("thread_id", thread.to_string()));
        }
        let mut body = body.clone();
        if let Some(name) = thread_name {
            body["thread_name"] = serde_json::Value::from(name);
        }
        let route = Route::WebhookWithToken {
            webhook_id: hook.id,
            token: &hook.token,
        };
        Request::new(route, LightMethod::Post)
            .body(Some(body.to_string().into_bytes()))
            .params(Some(params))
    }

    /// One threaded call. Bot: the parent is a channel message with a
    /// thread started on it; replies go to the thread channel. Forum
    /// webhook: the parent is a new forum post (`thread_name`), replies
    /// and edits name the thread (`thread_id`).
    pub(super) async fn thread(
        &self,
        channel: Option<&str>,
        message: &str,
        call: &ThreadCall<'_>,
    ) -> ThreadOutcome {
        let body = request_body(Platform::Discord, None, message);
        match (&self.mode, call) {
            (Mode::Webhook(hook), ThreadCall::Parent { title }) => {
                let request =
                    self.webhook_post(hook, &body, None, Some(&thread_name(title, &body)));
                self.posted(request, None).await
            }
            (Mode::Webhook(hook), ThreadCall::Reply { ids, .. }) => {
                let thread = ids.thread_id.as_deref().unwrap_or(&ids.message_id);
                let request = self.webhook_post(hook, &body, Some(thread), None);
                self.posted(request, Some(thread)).await
            }
            (Mode::Webhook(hook), ThreadCall::Edit { ids, .. }) => {
                let Some(message_id) = parse_message_id(&ids.message_id) else {
                    return ThreadOutcome::Gone("stored message id is not a number".into());
                };
                let mut params = Vec::new();
                if let Some(thread) = &ids.thread_id {
                    params.push(("thread_id", thread.clone()));
                }
                let route = Route::WebhookMessage {
                    webhook_id: hook.id,
                    token: &hook.token,
                    message_id,
                };
                let request = Request::new(route, LightMethod::Patch)
                    .body(Some(edit_body(&body)))
                    .params(Some(params));
                self.edited(request).await
            }
            // A forum has no channel to show a line in.
            (Mode::Webhook(_), ThreadCall::Line { .. }) => ThreadOutcome::Done(None),
            (Mode::Bot, call) => {
                let channel_id = match bot_channel(channel) {
                    Ok(c) => c,
                    Err(e) => return ThreadOutcome::Failed(e),
                };
                self.bot_thread(channel_id, &body, call).await
            }
        }
    }

    async fn bot_thread(
        &self,
        channel_id: ChannelId,
        body: &serde_json::Value,
        call: &ThreadCall<'_>,
    ) -> ThreadOutcome {
        let post = |channel_id: ChannelId, body: Vec<u8>| {
            Request::new(Route::ChannelMessages { channel_id }, LightMethod::Post).body(Some(body))
        };
        match call {
            ThreadCall::Parent { title } => {
                let request = post(channel_id, body.to_string().into_bytes());
                let mut ids = match self.posted(request, None).await {
                    ThreadOutcome::Done(Some(ids)) => ids,
                    other => return other,
                };
                // A thread started on a message has the message's id; a
                // failure here leaves it to the first reply to start it.
                ids.thread_id = self
                    .start_thread(channel_id, &ids.message_id, &thread_name(title, body))
                    .await
                    .ok();
                ThreadOutcome::Done(Some(ids))
            }
            ThreadCall::Reply { ids, .. } => {
                let thread = match &ids.thread_id {
                    Some(t) => t.clone(),
                    None => {
                        let name = body["embeds"][0]["title"].as_str().unwrap_or("thread");
                        match self
                            .start_thread(channel_id, &ids.message_id, &thread_name(name, body))
                            .await
                        {
                            Ok(t) => t,
                            Err(o) => return o,
                        }
                    }
                };
                let Some(thread_id) = parse_channel_id(&thread) else {
                    return ThreadOutcome::Gone("stored thread id is not a number".into());
                };
                let request = post(thread_id, body.to_string().into_bytes());
                self.posted(request, Some(&thread)).await
            }
            ThreadCall::Edit { ids, in_thread } => {
                let on = match (in_thread, &ids.thread_id) {
                    (true, Some(t)) => parse_channel_id(t),
                    _ => Some(channel_id),
                };
                let (Some(on), Some(message_id)) = (on, parse_message_id(&ids.message_id)) else {
                    return ThreadOutcome::Gone("stored ids are not numbers".into());
                };
                let route = Route::ChannelMessage {
                    channel_id: on,
                    message_id,
                };
                let request = Request::new(route, LightMethod::Patch).body(Some(edit_body(body)));
                self.edited(request).await
            }
            ThreadCall::Line { ids } => {
                let thread = ids.thread_id.as_deref().unwrap_or(&ids.message_id);
                // within `content`'s 2,000 characters with the link
                let text: String = body["content"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(1_900)
                    .collect();
                let line = serde_json::json!({
                    "content": format!("{text} → <#{thread}>").trim_start(),
                    "allowed_mentions": {"parse": []},
                });
                let request = post(channel_id, line.to_string().into_bytes());
                match self.posted(request, None).await {
                    ThreadOutcome::Done(_) => ThreadOutcome::Done(None),
                    other => other,
                }
            }
        }
    }

    /// Starts a public thread on message `message_id`; its id, or why not.
    async fn start_thread(
        &self,
        channel_id: ChannelId,
        message_id: &str,
        name: &str,
    ) -> Result<String, ThreadOutcome> {
        let Some(mid) = parse_message_id(message_id) else {
            return Err(ThreadOutcome::Gone(
                "stored message id is not a number".into(),
            ));
        };
        let route = Route::ChannelMessageThreads {
            channel_id,
            message_id: mid,
        };
        let body = serde_json::json!({"name": name, "auto_archive_duration": 10080});
        let request =
            Request::new(route, LightMethod::Post).body(Some(body.to_string().into_bytes()));
        let (outcome, answer) = self.execute(request).await;
        match outcome {
            Outcome::Sent { .. } => Ok(serde_json::from_str::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| {
                    v.get("id")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| message_id.to_string())),
            // 160004: a thread was already started on it (same id).
            Outcome::Permanent { .. } if discord_code(&answer) == Some(160_004) => {
                Ok(message_id.to_string())
            }
            Outcome::Permanent { error } if is_gone(&answer, &error) => {
                Err(ThreadOutcome::Gone(error))
            }
            other => Err(ThreadOutcome::Failed(other)),
        }
    }

    /// A post's outcome with the new message's ids (`thread`: where it lives).
    async fn posted(&self, request: Request<'_>, thread: Option<&str>) -> ThreadOutcome {
        let (outcome, answer) = self.execute(request).await;
        match outcome {
            Outcome::Sent { .. } => {
                let v = serde_json::from_str::<serde_json::Value>(&answer).unwrap_or_default();
                let id = v.get("id").and_then(serde_json::Value::as_str);
                let channel = v.get("channel_id").and_then(serde_json::Value::as_str);
                match id {
                    Some(id) => ThreadOutcome::Done(Some(ThreadIds {
                        message_id: id.to_string(),
                        thread_id: thread.or(channel).map(str::to_string),
                    })),
                    None => ThreadOutcome::Failed(Outcome::permanent(
                        "Discord answered without the message's id",
                    )),
                }
            }
            Outcome::Permanent { error } if is_gone(&answer, &error) => ThreadOutcome::Gone(error),
            other => ThreadOutcome::Failed(other),
        }
    }

    async fn edited(&self, request: Request<'_>) -> ThreadOutcome {
        let (outcome, answer) = self.execute(request).await;
        match outcome {
            Outcome::Sent { .. } => ThreadOutcome::Done(None),
            Outcome::Permanent { error } if is_gone(&answer, &error) => ThreadOutcome::Gone(error),
            other => ThreadOutcome::Failed(other),
        }
    }

    /// Sends one request; its outcome and the answer's body.
    async fn execute(&self, request: Request<'_>) -> (Outcome, String) {
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
            Err(e) => return (Outcome::permanent(e), String::new()),
        };
        if matches!(self.mode, Mode::Webhook(_)) {
            request.headers_mut().remove(AUTHORIZATION);
        }
        let response = match self.client.execute(request).await {
            Ok(r) => r,
            Err(e) => return (Outcome::retry(describe_reqwest_error(e)), String::new()),
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
        (outcome, body)
    }
}

/// Discord codes of a message or thread that is gone: unknown channel,
/// unknown message, archived thread, locked thread.
const GONE_CODES: [i64; 4] = [10_003, 10_008, 50_083, 160_005];

fn discord_code(answer: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(answer)
        .ok()?
        .get("code")?
        .as_i64()
}

fn is_gone(answer: &str, error: &str) -> bool {
    discord_code(answer).is_some_and(|c| GONE_CODES.contains(&c)) || error.contains("404")
}

/// A thread's name: the parent's title (else its text), at most 100 characters.
fn thread_name(title: &str, body: &serde_json::Value) -> String {
    let name = if title.trim().is_empty() {
        body["content"].as_str().unwrap_or("thread")
    } else {
        title
    };
    let name: String = name.trim().chars().take(100).collect();
    if name.is_empty() {
        "thread".into()
    } else {
        name
    }
}

/// An edit's body: what a message shows, without create-only keys.
fn edit_body(body: &serde_json::Value) -> Vec<u8> {
    let mut body = body.clone();
    if let Some(o) = body.as_object_mut() {
        o.retain(|k, _| matches!(k.as_str(), "content" | "embeds" | "allowed_mentions"));
    }
    body.to_string().into_bytes()
}

fn bot_channel(channel: Option<&str>) -> Result<ChannelId, Outcome> {
    channel.and_then(parse_channel_id).ok_or_else(|| {
        Outcome::permanent(match channel {
            Some(c) => format!("`{c}` is not a Discord channel id (a number)"),
            None => "no Discord channel id for a bot-token sink: give the route target one (sink:<channel id>)".to_string(),
        })
    })
}

fn parse_message_id(id: &str) -> Option<MessageId> {
    id.trim().parse::<NonZeroU64>().ok().map(MessageId::from)
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

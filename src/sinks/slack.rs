//! The Slack sink: `chat.postMessage` with a bot token, or an incoming
//! webhook, posted with reqwest (no redirects: a webhook URL is a secret),
//! and the mapping of Slack's answers to [`Outcome`]s.
//!
//! The stored message is posted in the body `render::request_body` builds
//! (snapshot-pinned); a post's answer is read with slack-morphism's typed
//! response model for its `ts`, which threads and edits need.
//! Slack's answer is read up to [`MAX_ANSWER_BYTES`]: it is only ever
//! parsed for `ok`/`error` or shown as an excerpt, and a broken or hostile
//! endpoint answering without end must not grow the process.

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use serde_json::Value;
use slack_morphism::api::SlackApiChatPostMessageResponse;
use url::Url;

use super::{
    DEFAULT_RETRY_AFTER, Outcome, ThreadCall, ThreadOutcome, error_chain, excerpt, read_capped,
    secs_to_duration,
};
use crate::config::SinkConfig;
use crate::outbox::ThreadIds;
use crate::render::{Platform, request_body};

/// Where the Web API lives unless `api_base` says otherwise.
const DEFAULT_API_BASE: &str = "https://slack.com/api/";
/// The most of an answer's body read.
pub(super) const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub(super) struct Slack {
    client: reqwest::Client,
    mode: Mode,
}

enum Mode {
    Bot {
        token: String,
        endpoint: Url,
        update: Url,
    },
    Webhook {
        url: Url,
    },
}

/// Slack error codes that mean the parent is gone (deleted, or its thread
/// locked): the message starts a new parent instead.
const GONE_ERRORS: [&str; 4] = [
    "message_not_found",
    "thread_not_found",
    "thread_locked",
    "channel_not_found",
];

/// Slack error codes that mean "try again later", not "this message is bad".
const TRANSIENT_ERRORS: [&str; 4] = [
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

impl Slack {
    pub(super) fn new(cfg: &SinkConfig) -> anyhow::Result<Slack> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            // A redirect would carry the token or the webhook URL elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the Slack HTTP client")?;
        let mode = match (&cfg.webhook_url, &cfg.token) {
            (Some(w), _) => {
                // The parse error names no part of the URL, which holds the secret.
                let url = Url::parse(w.expose()).with_context(|| {
                    format!("sink `{}`: webhook_url is not a valid URL", cfg.name)
                })?;
                if !matches!(url.scheme(), "http" | "https") {
                    bail!("sink `{}`: webhook_url is not an http(s) URL", cfg.name);
                }
                Mode::Webhook { url }
            }
            (None, Some(t)) => {
                let base = cfg.api_base.as_deref().unwrap_or(DEFAULT_API_BASE);
                let base = Url::parse(&format!("{}/", base.trim_end_matches('/')))
                    .with_context(|| format!("sink `{}`: api_base is not a valid URL", cfg.name))?;
                let join = |method: &str| {
                    base.join(method).with_context(|| {
                        format!("sink `{}`: api_base is not a valid URL", cfg.name)
                    })
                };
                Mode::Bot {
                    token: t.expose().to_string(),
                    endpoint: join("chat.postMessage")?,
                    update: join("chat.update")?,
                }
            }
            (None, None) => bail!(
                "sink `{}`: a slack sink needs a bot token or a webhook URL",
                cfg.name
            ),
        };
        Ok(Slack { client, mode })
    }

    pub(super) fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Bot { .. } => "bot token",
            Mode::Webhook { .. } => "incoming webhook",
        }
    }

    /// Posts `message` in a `chat.postMessage` / webhook body.
    pub(super) async fn send(&self, channel: Option<&str>, message: &str) -> Outcome {
        let body = request_body(Platform::Slack, channel, message);
        self.call(channel, false, body).await.0
    }

    /// One threaded call (bot token only): a parent, a reply with
    /// `thread_ts`, or a `chat.update`.
    pub(super) async fn thread(
        &self,
        channel: Option<&str>,
        message: &str,
        call: &ThreadCall<'_>,
    ) -> ThreadOutcome {
        let mut body = request_body(Platform::Slack, channel, message);
        let update = match call {
            ThreadCall::Parent { .. } => false,
            ThreadCall::Reply { ids, broadcast } => {
                body["thread_ts"] = Value::from(ids.message_id.as_str());
                if *broadcast {
                    body["reply_broadcast"] = Value::Bool(true);
                }
                false
            }
            ThreadCall::Edit { ids, .. } => {
                // chat.update takes the channel id chat.postMessage answered.
                if let Some(id) = &ids.thread_id {
                    body["channel"] = Value::from(id.as_str());
                }
                body["ts"] = Value::from(ids.message_id.as_str());
                true
            }
            // Slack shows a state change with `reply_broadcast` instead.
            ThreadCall::Line { .. } => return ThreadOutcome::Done(None),
        };
        let (outcome, answer) = self.call(channel, update, body).await;
        match outcome {
            Outcome::Sent { .. } => {
                if let ThreadCall::Edit { .. } = call {
                    return ThreadOutcome::Done(None);
                }
                match posted_ids(&answer) {
                    Some(ids) => ThreadOutcome::Done(Some(ids)),
                    None => ThreadOutcome::Failed(Outcome::permanent(
                        "Slack answered ok without the message's ts",
                    )),
                }
            }
            Outcome::Permanent { error } => {
                let code = serde_json::from_str::<Value>(&answer)
                    .ok()
                    .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
                if code.as_deref().is_some_and(|c| GONE_ERRORS.contains(&c)) {
                    ThreadOutcome::Gone(error)
                } else {
                    ThreadOutcome::Failed(Outcome::Permanent { error })
                }
            }
            other => ThreadOutcome::Failed(other),
        }
    }

    /// Posts `body` (to `chat.update` when `update`); the outcome and the answer.
    async fn call(&self, channel: Option<&str>, update: bool, body: Value) -> (Outcome, String) {
        let body = body.to_string();
        let request = match &self.mode {
            Mode::Bot {
                token,
                endpoint,
                update: update_url,
            } => {
                if channel.is_none_or(str::is_empty) {
                    return (
                        Outcome::permanent(
                            "no Slack channel for a bot-token sink: give the route target one (sink:#channel)",
                        ),
                        String::new(),
                    );
                }
                let url = if update { update_url } else { endpoint };
                self.client
                    .post(url.clone())
                    .header(AUTHORIZATION, format!("Bearer {token}"))
            }
            Mode::Webhook { .. } if update => {
                return (
                    Outcome::permanent("a Slack incoming webhook cannot edit messages"),
                    String::new(),
                );
            }
            Mode::Webhook { url } => self.client.post(url.clone()),
        };
        let response = match request
            .header(CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return (Outcome::retry(describe_reqwest_error(e)), String::new()),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let answer = read_capped(response, MAX_ANSWER_BYTES).await;
        (classify(status, &headers, &answer), answer)
    }
}

/// The `ts` and channel id of a `chat.postMessage` answer, read with
/// slack-morphism's typed model (`SlackApiChatPostMessageResponse`); an
/// answer whose `message` that model does not take still gives its `ts`.
pub(super) fn posted_ids(answer: &str) -> Option<ThreadIds> {
    if let Ok(r) = serde_json::from_str::<SlackApiChatPostMessageResponse>(answer) {
        return Some(ThreadIds {
            message_id: r.ts.0,
            thread_id: Some(r.channel.0),
        });
    }
    let v = serde_json::from_str::<Value>(answer).ok()?;
    Some(ThreadIds {
        message_id: v.get("ts")?.as_str()?.to_string(),
        thread_id: v.get("channel").and_then(Value::as_str).map(str::to_string),
    })
}

/// Maps one Slack answer (status, headers, body) to an [`Outcome`].
pub(super) fn classify(status: u16, headers: &HeaderMap, body: &str) -> Outcome {
    let json = serde_json::from_str::<Value>(body).ok();
    if status == 429 {
        let wait = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(secs_to_duration)
            .unwrap_or(DEFAULT_RETRY_AFTER);
        return Outcome::RateLimited { retry_after: wait };
    }
    if (200..300).contains(&status) {
        // Incoming webhooks answer a plain `ok`.
        return match json.as_ref().and_then(|v| v.get("ok")) {
            Some(Value::Bool(false)) => {
                match json
                    .as_ref()
                    .and_then(|v| v.get("error"))
                    .and_then(Value::as_str)
                {
                    Some(code) => api_error(code, details(json.as_ref()).as_deref()),
                    None => Outcome::permanent("Slack answered ok:false without an error code"),
                }
            }
            _ => Outcome::Sent { wait: None },
        };
    }
    let shown = excerpt(body);
    let error = if shown.is_empty() {
        format!("Slack HTTP {status}")
    } else {
        format!("Slack HTTP {status}: {shown}")
    };
    if status == 408 || (500..600).contains(&status) {
        Outcome::retry(error)
    } else {
        Outcome::permanent(error)
    }
}

/// Slack's `errors` (or `response_metadata.messages`) of a refusal.
fn details(json: Option<&Value>) -> Option<Vec<String>> {
    let json = json?;
    let list = json
        .get("errors")
        .or_else(|| {
            json.get("response_metadata")
                .and_then(|m| m.get("messages"))
        })?
        .as_array()?;
    Some(
        list.iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
    )
}

fn api_error(code: &str, details: Option<&[String]>) -> Outcome {
    if code == "ratelimited" {
        return Outcome::RateLimited {
            retry_after: DEFAULT_RETRY_AFTER,
        };
    }
    let mut error = format!("Slack error: {code}");
    if let Some(details) = details.filter(|d| !d.is_empty()) {
        error.push_str(" (");
        error.push_str(&excerpt(&details.join("; ")));
        error.push(')');
    }
    if TRANSIENT_ERRORS.contains(&code) {
        Outcome::retry(error)
    } else {
        Outcome::permanent(error)
    }
}

/// A reqwest failure without its URL (a webhook URL is a secret).
fn describe_reqwest_error(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "Slack request timed out"
    } else {
        "Slack connection error"
    };
    format!("{kind}: {}", error_chain(&e.without_url()))
}

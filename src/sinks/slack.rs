//! The Slack sink: `chat.postMessage` with a bot token, or an incoming
//! webhook, through slack-morphism's hyper client (its rate control off),
//! and the mapping of Slack's answers to [`Outcome`]s.
//!
//! The stored message is posted in the body `render::request_body` builds,
//! as a `serde_json::Value`, not as slack-morphism's typed requests, which
//! drop fields such as `unfurl_links` on the webhook path.

use anyhow::{Context, bail};
use serde_json::Value;
use slack_morphism::errors::SlackClientError;
use slack_morphism::hyper_tokio::{SlackClientHyperConnector, SlackClientHyperHttpsConnector};
use slack_morphism::{
    ClientResult, SlackApiToken, SlackApiTokenValue, SlackClient, SlackClientApiCallContext,
    SlackClientHttpConnector,
};
use url::Url;

use super::{DEFAULT_RETRY_AFTER, MAX_PLATFORM_WAIT, Outcome, error_chain, excerpt};
use crate::config::SinkConfig;
use crate::render::{Platform, request_body};

pub(super) struct Slack {
    client: SlackClient<SlackClientHyperHttpsConnector>,
    mode: Mode,
}

enum Mode {
    Bot { token: SlackApiToken },
    Webhook { url: Url },
}

/// Slack error codes that mean "try again later", not "this message is bad".
const TRANSIENT_ERRORS: [&str; 4] = [
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

impl Slack {
    pub(super) fn new(cfg: &SinkConfig) -> anyhow::Result<Slack> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let mut connector = SlackClientHyperConnector::from(https);
        if let Some(base) = &cfg.api_base {
            Url::parse(base)
                .with_context(|| format!("sink `{}`: api_base is not a valid URL", cfg.name))?;
            // slack-morphism joins base and method with a `/` of its own.
            connector = connector.with_slack_api_url(base.trim_end_matches('/'));
        }
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
            (None, Some(t)) => Mode::Bot {
                token: SlackApiToken::new(SlackApiTokenValue::new(t.expose().to_string())),
            },
            (None, None) => bail!(
                "sink `{}`: a slack sink needs a bot token or a webhook URL",
                cfg.name
            ),
        };
        Ok(Slack {
            client: SlackClient::new(connector),
            mode,
        })
    }

    pub(super) fn mode_name(&self) -> &'static str {
        match self.mode {
            Mode::Bot { .. } => "bot token",
            Mode::Webhook { .. } => "incoming webhook",
        }
    }

    /// Posts `message` in a `chat.postMessage` / webhook body.
    pub(super) async fn send(&self, channel: Option<&str>, message: &str) -> Outcome {
        let request = request_body(Platform::Slack, channel, message);
        let result: ClientResult<Value> = match &self.mode {
            Mode::Bot { token } => {
                if channel.is_none_or(str::is_empty) {
                    return Outcome::permanent(
                        "no Slack channel for a bot-token sink: give the route target one (sink:#channel)",
                    );
                }
                let session = self.client.open_session(token);
                session
                    .http_session_api
                    .http_post("chat.postMessage", &request, None)
                    .await
            }
            Mode::Webhook { url } => {
                let span = tracing::debug_span!("slack incoming webhook");
                let context = SlackClientApiCallContext {
                    rate_control_params: None,
                    token: None,
                    tracing_span: &span,
                    // Makes slack-morphism log a hash in place of the URL.
                    is_sensitive_url: true,
                };
                self.client
                    .http_api
                    .connector
                    .http_post_uri(url.clone(), &request, context)
                    .await
            }
        };
        classify(result)
    }
}

/// Maps slack-morphism's result for one post to an [`Outcome`].
pub(super) fn classify(result: ClientResult<Value>) -> Outcome {
    match result {
        // Incoming webhooks answer a plain `ok`, which arrives here as `{}`.
        Ok(answer) => match answer.get("ok") {
            Some(Value::Bool(false)) => {
                Outcome::permanent("Slack answered ok:false without an error code")
            }
            _ => Outcome::Sent { wait: None },
        },
        Err(SlackClientError::ApiError(e)) => api_error(&e.code, e.errors.as_deref()),
        // slack-morphism takes Retry-After as any u64 of seconds: capped
        // like every other platform wait.
        Err(SlackClientError::RateLimitError(e)) => Outcome::RateLimited {
            retry_after: e
                .retry_after
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .min(MAX_PLATFORM_WAIT),
        },
        Err(SlackClientError::HttpError(e)) => {
            let status = e.status_code;
            let body = e
                .http_response_body
                .as_deref()
                .map(excerpt)
                .unwrap_or_default();
            let error = if body.is_empty() {
                format!("Slack HTTP {status}")
            } else {
                format!("Slack HTTP {status}: {body}")
            };
            if status.as_u16() == 429 {
                Outcome::RateLimited {
                    retry_after: DEFAULT_RETRY_AFTER,
                }
            } else if status.as_u16() == 408 || status.is_server_error() {
                Outcome::retry(error)
            } else {
                Outcome::permanent(error)
            }
        }
        Err(SlackClientError::HttpProtocolError(e)) => Outcome::retry(match &e.cause {
            Some(cause) => format!("Slack connection error: {}", error_chain(cause.as_ref())),
            None => "Slack connection error".to_string(),
        }),
        Err(SlackClientError::ProtocolError(e)) => {
            Outcome::retry(format!("Slack answer not understood: {}", e.json_error))
        }
        Err(SlackClientError::EndOfStream(_)) => Outcome::retry("Slack closed the connection"),
        Err(other) => Outcome::retry(format!("Slack client error: {other}")),
    }
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

//! The sinks against the loopback stand-in: what reaches the platform, and
//! how each kind of answer is classified, for the four real sink modes
//! (Slack bot token, Slack incoming webhook, Discord webhook, Discord bot).

use std::time::{Duration, Instant};

use hookbridge::config::{Secret, SinkConfig, SinkKind};
use hookbridge::sinks::{Outcome, Sink};
use serde_json::json;

use crate::standin::{Behaviour, Platform, Received, StandIn};

const SLACK_TOKEN: &str = "xoxb-1111-2222-SlackBotSecret";
const SLACK_HOOK_SECRET: &str = "SlackHookSecret0123456789";
const DISCORD_BOT_TOKEN: &str = "MTExMjIy.DiscordBotSecret.abcdefghij";
const DISCORD_HOOK_ID: u64 = 1_234_567_890_123;
const DISCORD_HOOK_TOKEN: &str = "DiscordHookSecret-0123456789_abcdef";
const DISCORD_CHANNEL: &str = "987654321098765432";

// The rendered messages a sink is handed, and the request bodies it posts.
const SLACK_MESSAGE: &str = "*push* to <https://example.com/acme/api|acme/api> by &lt;x&gt;";
const SLACK_BODY: &str = r##"{"channel":"#eng","text":"*push* to <https://example.com/acme/api|acme/api> by &lt;x&gt;","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*push* to <https://example.com/acme/api|acme/api> by &lt;x&gt;","verbatim":true}}],"unfurl_links":false,"unfurl_media":false}"##;
const SLACK_HOOK_MESSAGE: &str = "*push* to acme/api";
const SLACK_HOOK_BODY: &str = r#"{"text":"*push* to acme/api","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*push* to acme/api","verbatim":true}}],"unfurl_links":false,"unfurl_media":false}"#;
const DISCORD_MESSAGE: &str = "**push** to acme/api @everyone <@123>";
const DISCORD_BODY: &str =
    r#"{"allowed_mentions":{"parse":[]},"content":"**push** to acme/api @everyone <@123>"}"#;

/// Long enough for a loopback answer on a loaded 2-core machine, short
/// enough to keep the timeout tests quick.
const TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Debug, Clone, Copy)]
enum Case {
    SlackBot,
    SlackHook,
    DiscordHook,
    DiscordBot,
}

const CASES: [Case; 4] = [
    Case::SlackBot,
    Case::SlackHook,
    Case::DiscordHook,
    Case::DiscordBot,
];

impl Case {
    fn config(self, standin: &StandIn) -> SinkConfig {
        let (kind, token, webhook_url, api_base) = match self {
            Case::SlackBot => (
                SinkKind::Slack,
                Some(SLACK_TOKEN.to_string()),
                None,
                Some(standin.slack_api_base()),
            ),
            Case::SlackHook => (
                SinkKind::Slack,
                None,
                Some(standin.slack_webhook_url(SLACK_HOOK_SECRET)),
                None,
            ),
            Case::DiscordHook => (
                SinkKind::Discord,
                None,
                Some(standin.discord_webhook_url(DISCORD_HOOK_ID, DISCORD_HOOK_TOKEN)),
                None,
            ),
            Case::DiscordBot => (
                SinkKind::Discord,
                Some(DISCORD_BOT_TOKEN.to_string()),
                None,
                Some(standin.discord_api_base()),
            ),
        };
        SinkConfig {
            name: format!("{self:?}"),
            kind,
            token: token.map(Secret::new),
            webhook_url: webhook_url.map(Secret::new),
            api_base,
            forum: false,
        }
    }

    fn sink(self, standin: &StandIn, timeout: Duration) -> Sink {
        Sink::new(&self.config(standin), timeout).unwrap()
    }

    fn platform(self) -> Platform {
        match self {
            Case::SlackBot | Case::SlackHook => Platform::Slack,
            Case::DiscordHook | Case::DiscordBot => Platform::Discord,
        }
    }

    fn channel(self) -> Option<&'static str> {
        match self {
            Case::SlackBot => Some("#eng"),
            Case::DiscordBot => Some(DISCORD_CHANNEL),
            Case::SlackHook | Case::DiscordHook => None,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Case::SlackBot => SLACK_MESSAGE,
            Case::SlackHook => SLACK_HOOK_MESSAGE,
            Case::DiscordHook | Case::DiscordBot => DISCORD_MESSAGE,
        }
    }

    /// The request body the platform receives for [`Case::message`].
    fn body(self) -> &'static str {
        match self {
            Case::SlackBot => SLACK_BODY,
            Case::SlackHook => SLACK_HOOK_BODY,
            Case::DiscordHook | Case::DiscordBot => DISCORD_BODY,
        }
    }

    /// Everything secret this case's sink knows.
    fn secrets(self) -> &'static [&'static str] {
        match self {
            Case::SlackBot => &[SLACK_TOKEN],
            Case::SlackHook => &[SLACK_HOOK_SECRET],
            Case::DiscordHook => &[DISCORD_HOOK_TOKEN],
            Case::DiscordBot => &[DISCORD_BOT_TOKEN],
        }
    }

    async fn send(self, sink: &Sink) -> Outcome {
        sink.send(self.channel(), self.message()).await
    }
}

/// Starts a stand-in scripted with `behaviours` for the case's platform.
async fn standin_with(case: Case, behaviours: impl IntoIterator<Item = Behaviour>) -> StandIn {
    let standin = StandIn::start().await;
    standin.script(case.platform(), behaviours);
    standin
}

fn assert_no_secret(case: Case, text: &str) {
    for secret in case.secrets() {
        assert!(!text.contains(secret), "{case:?}: secret leaked in {text}");
    }
}

fn assert_one_request(case: Case, got: &[Received]) -> Received {
    assert_eq!(got.len(), 1, "{case:?}: {got:#?}");
    let r = got[0].clone();
    assert_eq!(r.platform, Some(case.platform()), "{case:?}: {r:#?}");
    assert_eq!(r.method, "POST");
    r
}

#[tokio::test]
async fn each_sink_posts_the_exact_body_with_the_token_only_where_it_belongs() {
    for case in CASES {
        let standin = StandIn::start().await;
        let sink = case.sink(&standin, TIMEOUT);
        assert_eq!(
            case.send(&sink).await,
            Outcome::Sent { wait: None },
            "{case:?}"
        );
        let r = assert_one_request(case, &standin.wait_for(1).await);
        assert!(
            r.content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/json")),
            "{case:?}: {r:?}"
        );
        for secret in case.secrets() {
            assert!(!r.body.contains(secret), "{case:?}: token in the body");
        }
        match case {
            Case::SlackBot => {
                assert_eq!(r.path, "/api/chat.postMessage");
                assert_eq!(
                    r.authorization.as_deref(),
                    Some(format!("Bearer {SLACK_TOKEN}").as_str())
                );
                let expected: serde_json::Value = serde_json::from_str(SLACK_BODY).unwrap();
                assert_eq!(r.json(), expected);
            }
            Case::SlackHook => {
                assert_eq!(r.path, format!("/services/T0001/B0001/{SLACK_HOOK_SECRET}"));
                assert_eq!(r.authorization, None);
                let expected: serde_json::Value = serde_json::from_str(SLACK_HOOK_BODY).unwrap();
                assert_eq!(r.json(), expected);
                assert_eq!(r.json()["unfurl_links"], json!(false));
            }
            Case::DiscordHook => {
                assert_eq!(
                    r.path,
                    format!("/api/v10/webhooks/{DISCORD_HOOK_ID}/{DISCORD_HOOK_TOKEN}")
                );
                assert!(
                    r.query.split('&').any(|p| p == "wait=true"),
                    "query: {}",
                    r.query
                );
                assert_eq!(r.authorization, None, "a webhook needs no auth header");
                assert_eq!(r.body, DISCORD_BODY, "byte for byte");
                assert_eq!(r.json()["allowed_mentions"], json!({"parse": []}));
            }
            Case::DiscordBot => {
                assert_eq!(
                    r.path,
                    format!("/api/v10/channels/{DISCORD_CHANNEL}/messages")
                );
                assert_eq!(
                    r.authorization.as_deref(),
                    Some(format!("Bot {DISCORD_BOT_TOKEN}").as_str())
                );
                assert_eq!(r.body, DISCORD_BODY, "byte for byte");
                assert_eq!(r.json()["allowed_mentions"], json!({"parse": []}));
            }
        }
    }
}

#[tokio::test]
async fn slack_bot_takes_the_channel_from_the_lane() {
    let standin = StandIn::start().await;
    let sink = Case::SlackBot.sink(&standin, TIMEOUT);
    assert_eq!(
        sink.send(Some("C0123456"), "hi").await,
        Outcome::Sent { wait: None }
    );
    let r = standin.wait_for(1).await.remove(0);
    assert_eq!(r.json()["channel"], json!("C0123456"));
    assert_eq!(r.json()["text"], json!("hi"));

    // No channel anywhere: refused before any request.
    match sink.send(None, "hi").await {
        Outcome::Permanent { error } => assert!(error.contains("channel"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(standin.received().len(), 1);
}

#[tokio::test]
async fn discord_bot_refuses_a_channel_that_is_not_an_id() {
    let standin = StandIn::start().await;
    let sink = Case::DiscordBot.sink(&standin, TIMEOUT);
    match sink.send(Some("#general"), DISCORD_MESSAGE).await {
        Outcome::Permanent { error } => assert!(error.contains("#general"), "{error}"),
        other => panic!("{other:?}"),
    }
    assert!(standin.received().is_empty());
}

#[tokio::test]
async fn discord_webhook_also_works_through_api_base() {
    let standin = StandIn::start().await;
    let mut cfg = Case::DiscordHook.config(&standin);
    // A real Discord URL, redirected by api_base to the stand-in.
    cfg.webhook_url = Some(Secret::new(format!(
        "https://discord.com/api/webhooks/{DISCORD_HOOK_ID}/{DISCORD_HOOK_TOKEN}"
    )));
    cfg.api_base = Some(standin.discord_api_base());
    let sink = Sink::new(&cfg, TIMEOUT).unwrap();
    assert_eq!(
        sink.send(None, DISCORD_MESSAGE).await,
        Outcome::Sent { wait: None }
    );
    let r = standin.wait_for(1).await.remove(0);
    assert_eq!(
        r.path,
        format!("/api/v10/webhooks/{DISCORD_HOOK_ID}/{DISCORD_HOOK_TOKEN}")
    );
}

#[tokio::test]
async fn http_429_is_rate_limited_for_the_time_the_platform_asks() {
    for case in CASES {
        let standin = standin_with(
            case,
            [Behaviour::Status429 {
                retry_after_secs: 3,
            }],
        )
        .await;
        let sink = case.sink(&standin, TIMEOUT);
        assert_eq!(
            case.send(&sink).await,
            Outcome::RateLimited {
                retry_after: Duration::from_secs(3)
            },
            "{case:?}"
        );
    }
}

#[tokio::test]
async fn slack_ratelimited_error_without_429_waits_the_default_second() {
    for case in [Case::SlackBot] {
        let standin = standin_with(case, [Behaviour::SlackError("ratelimited")]).await;
        let sink = case.sink(&standin, TIMEOUT);
        assert_eq!(
            case.send(&sink).await,
            Outcome::RateLimited {
                retry_after: Duration::from_secs(1)
            }
        );
    }
}

#[tokio::test]
async fn discord_empty_bucket_asks_the_lane_to_wait() {
    for case in [Case::DiscordHook, Case::DiscordBot] {
        let standin = standin_with(
            case,
            [Behaviour::OkBucketEmpty {
                reset_after_secs: 1.5,
            }],
        )
        .await;
        let sink = case.sink(&standin, TIMEOUT);
        assert_eq!(
            case.send(&sink).await,
            Outcome::Sent {
                wait: Some(Duration::from_millis(1500))
            },
            "{case:?}"
        );
    }
}

#[tokio::test]
async fn server_errors_retry_and_the_script_is_used_in_order() {
    for case in CASES {
        let standin = standin_with(case, [Behaviour::Status(500), Behaviour::Ok]).await;
        let sink = case.sink(&standin, TIMEOUT);
        match case.send(&sink).await {
            Outcome::Retry { error } => assert!(error.contains("500"), "{case:?}: {error}"),
            other => panic!("{case:?}: {other:?}"),
        }
        assert_eq!(
            case.send(&sink).await,
            Outcome::Sent { wait: None },
            "{case:?}"
        );
        assert_eq!(standin.wait_for(2).await.len(), 2);
    }
}

#[tokio::test]
async fn slack_transient_error_codes_retry() {
    let standin = standin_with(Case::SlackBot, [Behaviour::SlackError("internal_error")]).await;
    let sink = Case::SlackBot.sink(&standin, TIMEOUT);
    match Case::SlackBot.send(&sink).await {
        Outcome::Retry { error } => assert!(error.contains("internal_error"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn refusals_are_permanent_and_keep_the_platform_error_text() {
    let cases = [
        (
            Case::SlackBot,
            Behaviour::SlackError("invalid_auth"),
            "invalid_auth",
        ),
        (
            Case::SlackBot,
            Behaviour::SlackError("channel_not_found"),
            "channel_not_found",
        ),
        (
            Case::SlackHook,
            Behaviour::SlackError("channel_not_found"),
            "channel_not_found",
        ),
        (Case::SlackHook, Behaviour::Status(400), "400"),
        (Case::DiscordHook, Behaviour::Status(404), "Unknown Webhook"),
        (Case::DiscordBot, Behaviour::Status(403), "Missing Access"),
        (
            Case::DiscordBot,
            Behaviour::Status(401),
            "401: Unauthorized",
        ),
    ];
    for (case, behaviour, text) in cases {
        let standin = standin_with(case, [behaviour.clone()]).await;
        let sink = case.sink(&standin, TIMEOUT);
        match case.send(&sink).await {
            Outcome::Permanent { error } => {
                assert!(error.contains(text), "{case:?} {behaviour:?}: {error}");
                assert_no_secret(case, &error);
            }
            other => panic!("{case:?} {behaviour:?}: {other:?}"),
        }
    }
    // The webhook's 404 keeps both the status and Slack's text.
    let standin = standin_with(
        Case::SlackHook,
        [Behaviour::SlackError("channel_not_found")],
    )
    .await;
    let sink = Case::SlackHook.sink(&standin, TIMEOUT);
    let outcome = Case::SlackHook.send(&sink).await;
    assert!(
        matches!(&outcome, Outcome::Permanent { error } if error.contains("404")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_slow_answer_within_the_timeout_is_sent() {
    for case in CASES {
        let standin = standin_with(case, [Behaviour::Slow(Duration::from_millis(50))]).await;
        let sink = case.sink(&standin, TIMEOUT);
        assert_eq!(
            case.send(&sink).await,
            Outcome::Sent { wait: None },
            "{case:?}"
        );
    }
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_a_retry_at_about_the_timeout() {
    let timeout = Duration::from_millis(300);
    for case in CASES {
        let standin = standin_with(case, [Behaviour::Slow(Duration::from_secs(30))]).await;
        let sink = case.sink(&standin, timeout);
        let started = Instant::now();
        let outcome = case.send(&sink).await;
        let took = started.elapsed();
        assert!(
            matches!(&outcome, Outcome::Retry { error } if error.contains("300ms")),
            "{case:?}: {outcome:?}"
        );
        assert!(took >= timeout, "{case:?}: returned before the timeout");
        assert!(took < Duration::from_secs(10), "{case:?}: took {took:?}");
        assert_eq!(standin.received().len(), 1);
    }
}

#[tokio::test]
async fn a_lost_answer_is_a_retry_and_the_message_did_arrive() {
    let timeout = Duration::from_millis(300);
    for case in CASES {
        let standin = standin_with(case, [Behaviour::LostAnswer, Behaviour::Ok]).await;
        let sink = case.sink(&standin, timeout);
        let outcome = case.send(&sink).await;
        assert!(
            matches!(outcome, Outcome::Retry { .. }),
            "{case:?}: {outcome:?}"
        );
        let r = assert_one_request(case, &standin.wait_for(1).await);
        assert_eq!(
            r.json(),
            serde_json::from_str::<serde_json::Value>(case.body()).unwrap()
        );
        // The sink is still usable afterwards (a fresh connection).
        assert_eq!(
            case.send(&sink).await,
            Outcome::Sent { wait: None },
            "{case:?}"
        );
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_retry() {
    for case in CASES {
        let standin = StandIn::start().await;
        let cfg = case.config(&standin);
        drop(standin);
        // Let the server task see the shutdown and close its socket.
        tokio::task::yield_now().await;
        let sink = Sink::new(&cfg, TIMEOUT).unwrap();
        match case.send(&sink).await {
            Outcome::Retry { error } => {
                assert!(error.contains("onnect"), "{case:?}: {error}");
                assert_no_secret(case, &error);
            }
            other => panic!("{case:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn no_outcome_or_debug_output_contains_a_token() {
    let failures = [
        Behaviour::Status(500),
        Behaviour::Status(404),
        Behaviour::Status(400),
        Behaviour::SlackError("invalid_auth"),
        Behaviour::Status429 {
            retry_after_secs: 1,
        },
        Behaviour::LostAnswer,
    ];
    for case in CASES {
        let standin = standin_with(case, failures.clone()).await;
        let cfg = case.config(&standin);
        let sink = case.sink(&standin, Duration::from_millis(300));
        let mut seen = vec![format!("{sink:?}"), format!("{cfg:?}")];
        for _ in &failures {
            let outcome = case.send(&sink).await;
            seen.push(format!("{outcome:?}"));
            if let Outcome::Retry { error } | Outcome::Permanent { error } = &outcome {
                seen.push(error.clone());
            }
        }
        // And a connection error, whose text would name the URL.
        drop(standin);
        tokio::task::yield_now().await;
        let outcome = case.send(&sink).await;
        seen.push(format!("{outcome:?}"));
        for s in &seen {
            assert_no_secret(case, s);
        }
        assert!(seen[0].contains(&format!("{case:?}")), "{}", seen[0]);
    }
}

#[tokio::test]
async fn standin_discord_answer_is_a_serenity_message() {
    let standin = StandIn::start().await;
    let client = reqwest::Client::new();
    for path in [
        format!("/api/v10/webhooks/{DISCORD_HOOK_ID}/{DISCORD_HOOK_TOKEN}?wait=true"),
        format!("/api/v10/channels/{DISCORD_CHANNEL}/messages"),
    ] {
        let answer = client
            .post(format!("{}{path}", standin.base_url()))
            .header("authorization", "Bot abc")
            .header("content-type", "application/json")
            .body(DISCORD_BODY)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.headers()["x-ratelimit-remaining"], "4");
        let message: serenity::model::channel::Message = answer.json().await.unwrap();
        assert_eq!(message.content, "**push** to acme/api @everyone <@123>");
    }
    // Unknown paths are recorded and answered 404.
    let answer = client
        .post(format!("{}/nope", standin.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    let got = standin.wait_for(3).await;
    assert_eq!(got[2].platform, None);
    assert_eq!(got[0].query, "wait=true");
}

// ------------------------------------------------------------- cards

/// A card with hostile text in every part and far past every limit: 60
/// fields, a 100 KB body, markup and mentions everywhere, non-ASCII.
fn hostile_card() -> hookbridge::render::Card {
    use hookbridge::render::{Author, Card, Field};
    const EVIL: &str = "@everyone @here <!channel> <@U1> <@&2> *x* _y_ [z](https://evil.example) ```` 👩🏽‍💻 e\u{301} ";
    Card {
        text: EVIL.repeat(500),
        title: EVIL.repeat(50),
        url: "https://example.com/acme/api/pull/1".into(),
        color: "#8250df".into(),
        author: Author {
            name: EVIL.repeat(40),
            url: "https://example.com/octocat".into(),
            icon: "https://example.com/a.png".into(),
        },
        body: format!("{}\n", EVIL).repeat(100 * 1024 / EVIL.len()),
        fields: (0..60)
            .map(|i| Field {
                name: format!("label {i} {}", EVIL.repeat(10)),
                value: EVIL.repeat(40),
                inline: i % 2 == 0,
            })
            .collect(),
        footer: EVIL.repeat(100),
        timestamp: "2026-01-02T03:04:05Z".into(),
    }
}

#[tokio::test]
async fn every_sink_gets_a_hostile_card_accepted_within_every_limit() {
    for case in CASES {
        let standin = StandIn::start().await;
        let sink = case.sink(&standin, TIMEOUT);
        let stored = hostile_card().to_stored();
        let outcome = sink.send(case.channel(), &stored).await;
        let got = standin.wait_for(1).await;
        let r = assert_one_request(case, &got);
        assert_eq!(r.refused, None, "{case:?} would be refused:\n{}", r.body);
        assert_eq!(outcome, Outcome::Sent { wait: None }, "{case:?}");
        let body = r.json();
        match case.platform() {
            Platform::Slack => {
                // Text on top, the card in one coloured attachment.
                assert!(body["text"].as_str().unwrap().ends_with("… (truncated)"));
                assert_eq!(body["attachments"][0]["color"], "#8250df");
                let blocks = body["attachments"][0]["blocks"].as_array().unwrap();
                assert!(blocks.len() <= 50);
                assert!(body.to_string().contains("and 20 more"), "{case:?}");
            }
            Platform::Discord => {
                let embed = &body["embeds"][0];
                assert_eq!(embed["color"], 0x8250df);
                assert_eq!(
                    embed["fields"].as_array().unwrap().last().unwrap()["name"],
                    "…"
                );
                assert_eq!(body["allowed_mentions"], json!({"parse": []}));
            }
        }
    }
}

#[tokio::test]
async fn the_standin_refuses_what_the_platform_would() {
    // A body over a limit is refused, as Slack and Discord would: this is
    // what makes every other test fail on a body the platform refuses.
    let standin = StandIn::start().await;
    let sink = Case::SlackBot.sink(&standin, TIMEOUT);
    let client = reqwest::Client::new();
    let too_long = json!({"channel": "#eng", "text": "x", "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "y".repeat(3_001)}}
    ]});
    let unknown = json!({"content": "hi", "embedz": []});
    let answer = client
        .post(format!("{}chat.postMessage", standin.slack_api_base()))
        .bearer_auth("xoxb-1")
        .json(&too_long)
        .send()
        .await
        .unwrap();
    assert!(answer.text().await.unwrap().contains("invalid_blocks"));
    let answer = client
        .post(format!("{}webhooks/1/t", standin.discord_api_base()))
        .json(&unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let got = standin.wait_for(2).await;
    assert!(
        got[0].refused.as_deref().unwrap().contains("3001"),
        "{:?}",
        got[0].refused
    );
    assert!(
        got[1].refused.as_deref().unwrap().contains("embedz"),
        "{:?}",
        got[1].refused
    );
    drop(sink);
}

/// A loopback server that answers every request 200 with an endless body
/// and counts the bytes it managed to write before the client hung up.
async fn endless_answer() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                // Read the request head and its body (small: one read will
                // not do for every client, so read until quiet or done).
                let mut buf = vec![0u8; 64 * 1024];
                let mut got = Vec::new();
                loop {
                    let n =
                        match tokio::time::timeout(Duration::from_millis(200), sock.read(&mut buf))
                            .await
                        {
                            Ok(Ok(n)) if n > 0 => n,
                            _ => break,
                        };
                    got.extend_from_slice(&buf[..n]);
                    if let Some(head_end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= head_end + 4 + len {
                            break;
                        }
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk_data = vec![b'x'; 64 * 1024];
                let mut chunk = format!("{:x}\r\n", chunk_data.len()).into_bytes();
                chunk.extend_from_slice(&chunk_data);
                chunk.extend_from_slice(b"\r\n");
                // Up to 300 MB, as the answer that grew the process did.
                for _ in 0..(300 * 1024 * 1024 / chunk_data.len()) {
                    if sock.write_all(&chunk).await.is_err() {
                        return;
                    }
                    counter.fetch_add(chunk_data.len(), Ordering::Relaxed);
                }
            });
        }
    });
    (format!("http://{addr}"), written)
}

#[tokio::test]
async fn slack_reads_at_most_64_kib_of_an_answer() {
    use std::sync::atomic::Ordering;
    let (base, written) = endless_answer().await;
    for (token, webhook_url, api_base) in [
        (Some("xoxb-1111-cap"), None, Some(format!("{base}/api/"))),
        (
            None,
            Some(format!("{base}/services/T1/B1/secret0123456789")),
            None,
        ),
    ] {
        let before = written.load(Ordering::Relaxed);
        let cfg = SinkConfig {
            name: "cap".into(),
            kind: SinkKind::Slack,
            token: token.map(Secret::new),
            webhook_url: webhook_url.map(Secret::new),
            api_base,
            forum: false,
        };
        let sink = Sink::new(&cfg, Duration::from_secs(10)).unwrap();
        let start = Instant::now();
        let outcome = sink.send(Some("#eng"), "hello").await;
        // An answer that is not JSON but arrived with a 2xx is a post.
        assert_eq!(outcome, Outcome::Sent { wait: None });
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        // The sink stopped reading at its cap and hung up: the server got
        // no further than what socket buffers hold, far from 300 MB.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = written.load(Ordering::Relaxed);
        loop {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = written.load(Ordering::Relaxed);
            if now == last || Instant::now() > deadline {
                break;
            }
            last = now;
        }
        let sent = last - before;
        assert!(
            sent < 16 * 1024 * 1024,
            "the server wrote {sent} bytes: the answer was read on"
        );
    }
}

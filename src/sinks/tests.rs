use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};

use super::*;
use crate::config::{Secret, SinkConfig, SinkKind};

fn cfg(kind: SinkKind, token: Option<&str>, webhook: Option<&str>) -> SinkConfig {
    SinkConfig {
        name: "s".to_string(),
        kind,
        token: token.map(Secret::new),
        webhook_url: webhook.map(Secret::new),
        api_base: None,
        forum: false,
    }
}

/// A Slack Web API answer: HTTP 200 with `ok:false` and `code`.
fn api_error(code: &str) -> Outcome {
    let body = serde_json::json!({"ok": false, "error": code}).to_string();
    slack::classify(200, &HeaderMap::new(), &body)
}

#[test]
fn slack_ok_and_webhook_ok_are_sent() {
    let ok = slack::classify(200, &HeaderMap::new(), r#"{"ok": true, "ts": "1.2"}"#);
    assert_eq!(ok, Outcome::Sent { wait: None });
    // A webhook answers a plain `ok`.
    assert_eq!(
        slack::classify(200, &HeaderMap::new(), "ok"),
        Outcome::Sent { wait: None }
    );
    assert!(matches!(
        slack::classify(200, &HeaderMap::new(), r#"{"ok": false}"#),
        Outcome::Permanent { .. }
    ));
}

#[test]
fn slack_error_codes_split_into_retry_permanent_and_rate_limit() {
    for code in [
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    ] {
        match api_error(code) {
            Outcome::Retry { error } => assert!(error.contains(code), "{error}"),
            other => panic!("{code}: {other:?}"),
        }
    }
    for code in [
        "invalid_auth",
        "channel_not_found",
        "not_in_channel",
        "msg_too_long",
        "invalid_blocks",
    ] {
        match api_error(code) {
            Outcome::Permanent { error } => assert!(error.contains(code), "{error}"),
            other => panic!("{code}: {other:?}"),
        }
    }
    assert_eq!(
        api_error("ratelimited"),
        Outcome::RateLimited {
            retry_after: Duration::from_secs(1)
        }
    );
    // Slack's details of a refused block are kept.
    let body = r#"{"ok":false,"error":"invalid_blocks","errors":["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]}"#;
    match slack::classify(200, &HeaderMap::new(), body) {
        Outcome::Permanent { error } => assert!(error.contains("3001"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn slack_http_status_and_rate_limit_errors() {
    let limited = headers(&[("retry-after", "7")]);
    assert_eq!(
        slack::classify(429, &limited, "rate_limited"),
        Outcome::RateLimited {
            retry_after: Duration::from_secs(7)
        }
    );
    // A Retry-After of u64::MAX seconds would overflow `Instant + wait`.
    let absurd = headers(&[("retry-after", "18446744073709551615")]);
    assert_eq!(
        slack::classify(429, &absurd, ""),
        Outcome::RateLimited {
            retry_after: Duration::from_secs(24 * 3600)
        }
    );
    assert_eq!(
        slack::classify(429, &HeaderMap::new(), ""),
        Outcome::RateLimited {
            retry_after: DEFAULT_RETRY_AFTER
        }
    );
    assert!(matches!(
        slack::classify(503, &HeaderMap::new(), "down"),
        Outcome::Retry { .. }
    ));
    assert!(matches!(
        slack::classify(408, &HeaderMap::new(), ""),
        Outcome::Retry { .. }
    ));
    match slack::classify(404, &HeaderMap::new(), "channel_not_found") {
        Outcome::Permanent { error } => {
            assert!(error.contains("404"), "{error}");
            assert!(error.contains("channel_not_found"), "{error}");
        }
        other => panic!("{other:?}"),
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn discord_success_reads_the_bucket_headers() {
    let fresh = headers(&[
        ("x-ratelimit-remaining", "4"),
        ("x-ratelimit-reset-after", "0.4"),
    ]);
    assert_eq!(
        discord::classify(200, "200 OK", &fresh, "{}"),
        Outcome::Sent { wait: None }
    );
    let empty = headers(&[
        ("x-ratelimit-remaining", "0"),
        ("x-ratelimit-reset-after", "1.5"),
    ]);
    assert_eq!(
        discord::classify(200, "200 OK", &empty, "{}"),
        Outcome::Sent {
            wait: Some(Duration::from_millis(1500))
        }
    );
    assert_eq!(
        discord::classify(204, "204 No Content", &HeaderMap::new(), ""),
        Outcome::Sent { wait: None }
    );
}

#[test]
fn discord_429_prefers_the_precise_body_then_the_header() {
    let h = headers(&[("retry-after", "3")]);
    assert_eq!(
        discord::classify(
            429,
            "429",
            &h,
            r#"{"message":"slow","retry_after":2.5,"global":false}"#
        ),
        Outcome::RateLimited {
            retry_after: Duration::from_millis(2500)
        }
    );
    assert_eq!(
        discord::classify(429, "429", &h, "not json"),
        Outcome::RateLimited {
            retry_after: Duration::from_secs(3)
        }
    );
    assert_eq!(
        discord::classify(429, "429", &HeaderMap::new(), ""),
        Outcome::RateLimited {
            retry_after: DEFAULT_RETRY_AFTER
        }
    );
    // A nonsense or negative value falls back rather than parking the lane.
    assert_eq!(
        discord::classify(429, "429", &headers(&[("retry-after", "-5")]), ""),
        Outcome::RateLimited {
            retry_after: DEFAULT_RETRY_AFTER
        }
    );
}

#[test]
fn discord_errors_keep_message_and_code() {
    let body = r#"{"message": "Unknown Webhook", "code": 10015}"#;
    match discord::classify(404, "404 Not Found", &HeaderMap::new(), body) {
        Outcome::Permanent { error } => {
            assert!(error.contains("404"), "{error}");
            assert!(error.contains("Unknown Webhook"), "{error}");
            assert!(error.contains("10015"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        discord::classify(500, "500", &HeaderMap::new(), ""),
        Outcome::Retry { .. }
    ));
    assert!(matches!(
        discord::classify(502, "502", &HeaderMap::new(), "<html>bad gateway</html>"),
        Outcome::Retry { .. }
    ));
    assert!(matches!(
        discord::classify(408, "408", &HeaderMap::new(), ""),
        Outcome::Retry { .. }
    ));
    assert!(matches!(
        discord::classify(
            401,
            "401",
            &HeaderMap::new(),
            r#"{"message":"401: Unauthorized","code":0}"#
        ),
        Outcome::Permanent { .. }
    ));
    assert!(matches!(
        discord::classify(302, "302", &HeaderMap::new(), ""),
        Outcome::Permanent { .. }
    ));
}

#[test]
fn discord_webhook_urls_parse_into_id_token_and_base() {
    let real =
        discord::parse_webhook_url("https://discord.com/api/webhooks/123/abcDEF-_x").unwrap();
    assert_eq!(real.id.get(), 123);
    assert_eq!(real.token, "abcDEF-_x");
    assert!(real.base.is_none());
    assert!(real.thread_id.is_none());

    let canary =
        discord::parse_webhook_url("https://canary.discord.com/api/v10/webhooks/9/t/?thread_id=55")
            .unwrap();
    assert!(canary.base.is_none());
    assert_eq!(canary.thread_id.map(|c| c.get()), Some(55));

    let local = discord::parse_webhook_url("http://127.0.0.1:9200/api/webhooks/1/tok").unwrap();
    assert_eq!(local.base.as_deref(), Some("http://127.0.0.1:9200"));
    let proxied =
        discord::parse_webhook_url("http://proxy.local/discord/api/v10/webhooks/1/tok").unwrap();
    assert_eq!(proxied.base.as_deref(), Some("http://proxy.local/discord"));

    for bad in [
        "https://discord.com/api/webhooks/123",
        "https://discord.com/api/webhooks/abc/SeCrEtTok",
        "https://discord.com/api/webhooks/0/SeCrEtTok",
        "https://discord.com/api/webhooks/1/SeCrEtTok/extra",
        "https://discord.com/api/channels/1/SeCrEtTok",
        "https://discord.com/api/webhooks/1/SeCrEtTok?thread_id=SeCrEtTok",
        "ftp://discord.com/api/webhooks/1/SeCrEtTok",
        "not a url SeCrEtTok",
    ] {
        let err = discord::parse_webhook_url(bad)
            .err()
            .unwrap_or_else(|| panic!("{bad} parsed"));
        assert!(!format!("{err:#} {err:?}").contains("SeCrEtTok"), "{err:#}");
    }
}

#[test]
fn discord_api_base_becomes_the_serenity_proxy() {
    for (base, proxy) in [
        ("http://127.0.0.1:9200/api/v10/", "http://127.0.0.1:9200"),
        ("http://127.0.0.1:9200/api/v10", "http://127.0.0.1:9200"),
        ("http://127.0.0.1:9200/api/", "http://127.0.0.1:9200"),
        ("http://127.0.0.1:9200", "http://127.0.0.1:9200"),
        (
            "https://gw.example/discord/api/v9/",
            "https://gw.example/discord",
        ),
    ] {
        assert_eq!(discord::proxy_from_api_base(base), proxy, "{base}");
    }
}

#[test]
fn stdout_prints_header_and_text() {
    let mut out = Vec::new();
    stdout::write_message(&mut out, "console", None, "hello\nworld\n").unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "--- console ---\nhello\nworld\n"
    );
    let mut out = Vec::new();
    stdout::write_message(&mut out, "console", Some("#eng"), "x").unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "--- console #eng ---\nx\n");
}

#[tokio::test]
async fn stdout_sink_is_always_sent_and_has_no_interval() {
    let sink = Sink::new(&cfg(SinkKind::Stdout, None, None), Duration::from_secs(1)).unwrap();
    assert_eq!(sink.min_interval(), Duration::ZERO);
    assert_eq!(
        sink.send(None, "unit test message").await,
        Outcome::Sent { wait: None }
    );
}

#[test]
fn min_intervals_follow_the_platform_limits() {
    let slack = Sink::new(
        &cfg(SinkKind::Slack, Some("xoxb-1"), None),
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(slack.min_interval(), Duration::from_secs(1));
    let discord = Sink::new(
        &cfg(
            SinkKind::Discord,
            None,
            Some("https://discord.com/api/webhooks/1/tok"),
        ),
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(discord.min_interval(), Duration::from_millis(400));
}

#[test]
fn bad_webhook_urls_fail_at_build_without_echoing_the_url() {
    let secret = "SeCrEt-ToKeN-1234567890";
    let url = format!("https://discord.com/api/hooks/1/{secret}");
    let err = Sink::new(
        &cfg(SinkKind::Discord, None, Some(&url)),
        Duration::from_secs(1),
    )
    .err()
    .unwrap();
    assert!(!format!("{err:#} {err:?}").contains(secret));
}

#[test]
fn debug_and_errors_never_show_secrets() {
    let token = "xoxb-secret-token-value";
    let hook = "https://hooks.slack.com/services/T000/B000/WebhookSecretPart123";
    for c in [
        cfg(SinkKind::Slack, Some(token), None),
        cfg(SinkKind::Slack, None, Some(hook)),
    ] {
        let sink = Sink::new(&c, Duration::from_secs(1)).unwrap();
        let debug = format!("{sink:?}");
        assert!(debug.contains("slack"), "{debug}");
        assert!(
            !debug.contains(token) && !debug.contains("WebhookSecretPart123"),
            "{debug}"
        );
    }

    let redactor = Redactor::for_sink(&cfg(SinkKind::Slack, Some(token), Some(hook)));
    let out = redactor.outcome(Outcome::retry(format!(
        "failed {hook} and /services/T000/B000/WebhookSecretPart123 and {token}"
    )));
    let Outcome::Retry { error } = out else {
        panic!()
    };
    assert!(!error.contains(token), "{error}");
    assert!(!error.contains("WebhookSecretPart123"), "{error}");
    assert!(error.starts_with("failed ***"), "{error}");
}

#[test]
fn helpers_bound_waits_and_excerpts() {
    assert_eq!(secs_to_duration(0.25), Some(Duration::from_millis(250)));
    assert_eq!(secs_to_duration(-1.0), None);
    assert_eq!(secs_to_duration(f64::NAN), None);
    assert_eq!(secs_to_duration(1e30), Some(MAX_PLATFORM_WAIT));
    let long = "é".repeat(400);
    let cut = excerpt(&long);
    assert!(cut.len() < long.len() && cut.ends_with('…'));
    assert_eq!(excerpt("  short \n"), "short");
}

#[tokio::test]
async fn a_call_that_never_answers_is_a_retry_at_the_timeout() {
    let outcome = bounded(Duration::from_millis(20), std::future::pending()).await;
    assert!(
        matches!(outcome, Outcome::Retry { ref error } if error.contains("20ms")),
        "{outcome:?}"
    );
}

#[test]
fn discord_global_rate_limits_are_told_from_route_ones() {
    let mut global = HeaderMap::new();
    global.insert("x-ratelimit-global", "true".parse().unwrap());
    assert!(discord::is_global(&global, ""));
    let mut scope = HeaderMap::new();
    scope.insert("x-ratelimit-scope", "global".parse().unwrap());
    assert!(discord::is_global(&scope, ""));
    assert!(discord::is_global(
        &HeaderMap::new(),
        r#"{"message":"slow","retry_after":1.0,"global":true}"#
    ));
    let mut user = HeaderMap::new();
    user.insert("x-ratelimit-scope", "user".parse().unwrap());
    assert!(!discord::is_global(
        &user,
        r#"{"message":"slow","retry_after":1.0,"global":false}"#
    ));
    assert!(!discord::is_global(&HeaderMap::new(), "not json"));
}

#[test]
fn a_discord_global_limit_outlives_a_reload() {
    let hook = Some("https://discord.com/api/webhooks/1/abc");
    let before = Sink::new(&cfg(SinkKind::Discord, None, hook), Duration::from_secs(5)).unwrap();
    let Client::Discord(d) = &before.client else {
        panic!("a discord sink")
    };
    d.close_gate(std::time::Instant::now() + Duration::from_secs(60));
    assert!(before.claim_send().is_some());
    let after = Sink::new(&cfg(SinkKind::Discord, None, hook), Duration::from_secs(5)).unwrap();
    assert!(after.claim_send().is_none(), "a new sink starts open");
    let reloaded = Sink::new(&cfg(SinkKind::Discord, None, hook), Duration::from_secs(5)).unwrap();
    reloaded.inherit_limits(&before);
    assert!(
        reloaded.claim_send().is_some(),
        "the global limit still holds"
    );
    // other kinds have nothing to carry
    let slack = Sink::new(
        &cfg(SinkKind::Slack, Some("xoxb-1"), None),
        Duration::from_secs(5),
    )
    .unwrap();
    slack.inherit_limits(&before);
    assert!(slack.claim_send().is_none());
}

#[test]
fn a_slack_post_answer_gives_its_ts_and_channel_id() {
    // As Slack documents the chat.postMessage answer.
    let answer = r#"{"ok":true,"channel":"C123ABC456","ts":"1503435956.000247",
        "message":{"text":"Here's a message for you","username":"ecto1","bot_id":"B123ABC456",
        "attachments":[{"text":"This is an attachment","id":1,"fallback":"This is an attachment's fallback"}],
        "type":"message","subtype":"bot_message","ts":"1503435956.000247"}}"#;
    let ids = super::slack::posted_ids(answer).unwrap();
    assert_eq!(ids.message_id, "1503435956.000247");
    assert_eq!(ids.thread_id.as_deref(), Some("C123ABC456"));
    assert_eq!(super::slack::posted_ids(r#"{"ok":true}"#), None);
}

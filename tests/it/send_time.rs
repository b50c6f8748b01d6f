//! Messages are rendered when they are sent: the request path stores the
//! verified event with its targets, and each lane worker renders its
//! message with the templates loaded at that moment. What `render --json`
//! shows is exactly what the platform gets; a reload reaches messages
//! already queued; a stored secret, a broken row and rows of older
//! versions are handled as an operator would expect.

use std::process::Command;

use hookbridge::outbox::{DeliveryMeta, Lane, NewMessage, Status};
use serde_json::Value;

use crate::common::*;
use crate::standin::{Behaviour, Platform, StandIn};

const SECRET: &str = "send-time-secret";

fn config(standin: &StandIn, extra: &str) -> String {
    format!(
        r##"
[store]
path = "{{dir}}/hb.db"

[delivery]
timeout = "2s"
min_interval = "0s"

[sources.github]
kind = "github"
secret = "{SECRET}"

[sources.gitlab]
kind = "gitlab"
secret = "{SECRET}"

[sinks.slack]
kind = "slack"
token = "xoxb-test-token"
api_base = "{slack}"

[sinks.discord]
kind = "discord"
webhook_url = "{discord}"
api_base = "{discord_api}"

[[routes]]
to = ["slack:#eng", "discord"]
{extra}
"##,
        slack = standin.slack_api_base(),
        discord = standin.discord_webhook_url(42, "hook-token"),
        discord_api = standin.discord_api_base(),
    )
}

/// The bodies `hookbridge render --json` says each target gets.
fn rendered_bodies(config: &std::path::Path, source: &str, rel: &str) -> Vec<Value> {
    let payload = fixtures_dir().join(rel);
    let o = Command::new(env!("CARGO_BIN_EXE_hookbridge"))
        .args(["render", "--config"])
        .arg(config)
        .args(["--source", source, "--json", "--payload"])
        .arg(&payload)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run hookbridge render");
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let all: Vec<Value> = serde_json::from_slice(&o.stdout).expect("render --json is JSON");
    all.into_iter().map(|t| t["body"].clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_shows_exactly_what_the_platforms_get() {
    let standin = StandIn::start().await;
    let svc = Service::start(&config(&standin, "")).await;
    let fixtures = [
        ("github", "github/pull_request.opened.1.json"),
        ("github", "github/push.1.json"),
        ("github", "github/check_suite.completed.1.json"),
        ("gitlab", "gitlab/merge_request.merge.1.json"),
    ];
    let mut expected = Vec::new();
    for (source, rel) in fixtures {
        let a = svc.post_fixture(source, source, SECRET, rel).await;
        assert_eq!(a.status, 202, "{rel}: {}", a.body);
        let bodies = rendered_bodies(&svc.config_path, source, rel);
        assert_eq!(bodies.len(), 2, "{rel}: {bodies:#?}");
        expected.extend(bodies.into_iter().map(|b| (rel, b)));
    }
    let got = standin.wait_for(expected.len()).await;
    // Each sent row keeps the card it posted, not the payload: drawn as
    // its sink draws it, it is one of the bodies the platforms received.
    let store = svc.store();
    eventually(10, "every row sent", || async {
        store
            .list(Some(Status::Pending), 100)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    let received: Vec<Value> = got.iter().map(|r| r.json()).collect();
    for row in store.list(None, 100).await.unwrap() {
        assert_eq!(row.status, Status::Sent, "{row:?}");
        assert_eq!(
            hookbridge::pipeline::stored_payload(&row.message),
            Ok(None),
            "{}",
            row.message
        );
        let (platform, channel) = match row.lane.sink.as_str() {
            "slack" => (hookbridge::render::Platform::Slack, Some("#eng")),
            _ => (hookbridge::render::Platform::Discord, None),
        };
        let body = hookbridge::render::request_body(platform, channel, &row.message);
        assert!(received.contains(&body), "{body:#}");
    }
    for platform in [Platform::Slack, Platform::Discord] {
        let sent: Vec<Value> = got
            .iter()
            .filter(|r| r.platform == Some(platform))
            .map(|r| r.json())
            .collect();
        let want: Vec<&(&str, Value)> = expected
            .iter()
            .filter(|(_, b)| (platform == Platform::Slack) == b.get("channel").is_some())
            .collect();
        assert_eq!(sent.len(), want.len(), "{platform:?}");
        for ((rel, want), sent) in want.into_iter().zip(&sent) {
            assert_eq!(sent, want, "{rel} on {platform:?}: sent vs `render --json`");
        }
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_reaches_messages_already_queued() {
    let standin = StandIn::start().await;
    let toml = config(&standin, "")
        .replace(
            "to = [\"slack:#eng\", \"discord\"]",
            "to = [\"slack:#eng\"]",
        )
        .replace(
            "[store]",
            "[templates]\ndir = \"{dir}/templates\"\n\n[store]",
        );
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("templates/slack/default/issues.hbs");
    std::fs::create_dir_all(template.parent().unwrap()).unwrap();
    std::fs::write(&template, "first wording: {{event.title}}").unwrap();
    let svc = Service::start_in(dir, &toml, Default::default()).await;
    // Slack makes the message wait: it is queued, not yet sent.
    standin.script(
        Platform::Slack,
        [Behaviour::Status429 {
            retry_after_secs: 2,
        }],
    );
    let a = svc
        .post_fixture("github", "github", SECRET, "github/issues.opened.1.json")
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let first = standin.wait_for(1).await;
    assert!(
        first[0].json()["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("first wording"),
        "{}",
        first[0].body
    );
    std::fs::write(&template, "second wording: {{event.title}}").unwrap();
    svc.running().reload().expect("reload");
    let got = standin.wait_for(2).await;
    let text = got[1].json()["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(text.starts_with("second wording: "), "{text}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_secret_is_never_stored() {
    let standin = StandIn::start().await;
    // The platforms fail the first sends: the rows stay queued, with their
    // payloads, for seconds after the 202.
    for platform in [Platform::Slack, Platform::Discord] {
        standin.script(platform, [Behaviour::Status(500), Behaviour::Status(500)]);
    }
    let svc = Service::start(&config(&standin, "")).await;
    const MARKER: &str = "hunter2-stored-secret-marker";
    let mut payload: Value =
        serde_json::from_slice(&fixture("github/issues.opened.1.json")).unwrap();
    payload["secret"] = Value::from(MARKER);
    let body = serde_json::to_vec(&payload).unwrap();
    let body_sent = payload.clone();
    let mut headers = vec![
        ("x-github-event".to_string(), "issues".to_string()),
        (
            "x-github-delivery".to_string(),
            "stored-secret-1".to_string(),
        ),
    ];
    headers.extend(signature_headers("github", SECRET, &body));
    let a = svc.post("github", &headers, body).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let rows = svc.store().list(None, 10).await.unwrap();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for r in &rows {
        let payload = hookbridge::pipeline::stored_payload(&r.message)
            .unwrap()
            .expect("a queued message keeps its payload");
        let payload: Value = serde_json::from_slice(&payload).unwrap();
        assert!(payload.get("secret").is_none(), "secret stored: {payload}");
        assert_eq!(payload["issue"], body_sent["issue"]);
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_and_older_rows_are_handled() {
    let standin = StandIn::start().await;
    let svc = Service::start(&config(&standin, "")).await;
    let lane = Lane {
        sink: "slack".into(),
        channel: "#eng".into(),
    };
    let meta = |id: &str| DeliveryMeta {
        source: "github".into(),
        delivery_id: id.into(),
        kind: "issues.opened".into(),
        repo: "acme/api".into(),
    };
    let store = svc.store();
    // A card stored by an older version is sent as it is; a queued message
    // that cannot be read is given up at once, saying why.
    for (id, message) in [
        ("old-card", r#"{"card":1,"text":"from an older version"}"#),
        (
            "broken",
            r#"{"queued":1,"set":"default","event":{"kind":7}}"#,
        ),
        ("old-text", "plain text from an older version"),
    ] {
        store
            .accept(
                meta(id),
                vec![NewMessage {
                    lane: lane.clone(),
                    message: message.into(),
                }],
            )
            .await
            .unwrap();
    }
    // Wake the lane: a delivery after the stored rows.
    let a = svc
        .post_fixture("github", "github", SECRET, "github/issues.opened.1.json")
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let got = standin.wait_for(4).await;
    let texts: Vec<String> = got
        .iter()
        .filter(|r| r.platform == Some(Platform::Slack))
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert_eq!(texts[0], "from an older version");
    assert_eq!(texts[1], "plain text from an older version");
    assert!(texts[2].contains("opened issue"), "{}", texts[2]);
    eventually(10, "the broken row is dead", || async {
        let rows = store.list(Some(Status::Dead), 10).await.unwrap();
        rows.iter().any(|r| {
            r.delivery_id == "broken"
                && r.last_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("cannot read the queued event"))
        })
    })
    .await;
    // Nothing waits on the lane after the broken row.
    eventually(10, "the lane is drained", || async {
        store
            .list(Some(Status::Pending), 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    svc.stop().await;
}

//! End to end: signed deliveries in, every message out once, in order per
//! channel, through a stand-in that rate-limits, fails and loses answers.

use std::collections::HashMap;
use std::time::Duration;

use hookbridge::outbox::Status;

use crate::common::*;
use crate::standin::{Behaviour, Platform, StandIn};

const SECRET: &str = "delivery-secret";

fn config(standin: &StandIn, delivery: &str) -> String {
    format!(
        r##"
[store]
path = "{{dir}}/hb.db"

[delivery]
timeout = "2s"
{delivery}

[sources.github]
kind = "github"
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
events = ["issues"]
to = ["slack:#eng", "discord"]
"##,
        slack = standin.slack_api_base(),
        discord = standin.discord_webhook_url(42, "hook-token"),
        discord_api = standin.discord_api_base(),
    )
}

/// The `issue-NNNN` markers the stand-in got, per (platform, channel).
fn by_lane(standin: &StandIn) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for r in standin.received() {
        let v = r.json();
        let (lane, text) = match r.platform {
            Some(Platform::Slack) => (
                format!("slack:{}", v["channel"].as_str().unwrap_or("")),
                v["text"].as_str().unwrap_or("").to_string(),
            ),
            Some(Platform::Discord) => (
                "discord".to_string(),
                v["content"].as_str().unwrap_or("").to_string(),
            ),
            None => continue,
        };
        if let Some(m2) = issue_marker(&text) {
            m.entry(lane).or_default().push(m2);
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_once_in_order_per_channel() {
    let standin = StandIn::start().await;
    // Some trouble on the way: a 429, a 500, a lost answer; all must heal.
    standin.script(
        Platform::Slack,
        [
            Behaviour::Ok,
            Behaviour::Status429 {
                retry_after_secs: 1,
            },
            Behaviour::Ok,
            Behaviour::Status(500),
        ],
    );
    standin.script(
        Platform::Discord,
        [
            Behaviour::Ok,
            Behaviour::Status429 {
                retry_after_secs: 1,
            },
        ],
    );
    let svc = Service::start(&config(&standin, "min_interval = \"0s\"")).await;
    let n = 12;
    for i in 0..n {
        let (h, b) = numbered_issue(SECRET, i);
        let a = svc.post("github", &h, b).await;
        assert_eq!(a.status, 202, "{}", a.body);
    }
    // each message once per target, plus the retried attempts
    let want: Vec<String> = (0..n).map(|i| format!("issue-{i:04}")).collect();
    eventually(30, "all messages delivered", || async {
        let lanes = by_lane(&standin);
        dedup_consecutive(lanes.get("slack:#eng")) == want
            && dedup_consecutive(lanes.get("discord")) == want
    })
    .await;
    // rows are all sent, nothing dead
    rows_eventually(&svc, Status::Pending, 0, 10, "all rows sent").await;
    assert!(
        svc.store()
            .list(Some(Status::Dead), 100)
            .await
            .unwrap()
            .is_empty()
    );
    let sent = svc.store().list(Some(Status::Sent), 100).await.unwrap();
    assert_eq!(sent.len(), 2 * n);
    // the token went in the auth header only
    for r in standin.received() {
        assert!(!r.body.contains("xoxb-test-token") && !r.body.contains("hook-token"));
    }
    svc.stop().await;
}

/// Waits until the store holds `n` rows of `status`.
async fn rows_eventually(svc: &Service, status: Status, n: usize, secs: u64, what: &str) {
    eventually(secs, what, || async {
        svc.store().list(Some(status), 1000).await.unwrap().len() == n
    })
    .await;
}

/// Retried sends show the same message again right after itself; collapse
/// those to compare the order of distinct messages.
fn dedup_consecutive(v: Option<&Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in v.cloned().unwrap_or_default() {
        if out.last() != Some(&m) {
            out.push(m);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_down_for_a_while_then_back() {
    let standin = StandIn::start().await;
    standin.script(
        Platform::Discord,
        [Behaviour::Status(502), Behaviour::Status(503)],
    );
    standin.script(Platform::Slack, [Behaviour::Status(500)]);
    let svc = Service::start(&config(&standin, "")).await;
    let (h, b) = numbered_issue(SECRET, 7);
    assert_eq!(svc.post("github", &h, b).await.status, 202);
    eventually(30, "delivered after the outage", || async {
        let lanes = by_lane(&standin);
        lanes.get("discord").map(|v| v.len()) == Some(3)
            && lanes.get("slack:#eng").map(|v| v.len()) == Some(2)
    })
    .await;
    rows_eventually(&svc, Status::Sent, 2, 10, "rows sent").await;
    let rows = svc.store().list(Some(Status::Sent), 10).await.unwrap();
    let discord = rows.iter().find(|r| r.lane.sink == "discord").unwrap();
    assert_eq!(discord.attempts, 3);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_are_dead_with_the_reason_and_replay_works() {
    let standin = StandIn::start().await;
    standin.script(
        Platform::Slack,
        [Behaviour::SlackError("channel_not_found")],
    );
    standin.script(Platform::Discord, [Behaviour::Status(404)]);
    let svc = Service::start(&config(&standin, "")).await;
    let (h, b) = numbered_issue(SECRET, 1);
    assert_eq!(svc.post("github", &h, b).await.status, 202);
    rows_eventually(&svc, Status::Dead, 2, 15, "both dead").await;
    let dead = svc.store().list(Some(Status::Dead), 10).await.unwrap();
    let slack = dead.iter().find(|r| r.lane.sink == "slack").unwrap();
    assert!(
        slack
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("channel_not_found"),
        "{slack:?}"
    );
    assert_eq!(slack.attempts, 1);
    // replay: the platform is fine now
    let n = svc.store().replay_dead().await.unwrap();
    assert_eq!(n, 2);
    rows_eventually(&svc, Status::Sent, 2, 15, "replayed rows sent").await;
    assert_eq!(standin.received().len(), 4);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_older_than_max_age_are_dead() {
    let standin = StandIn::start().await;
    standin.script(
        Platform::Slack,
        std::iter::repeat_n(Behaviour::Status(500), 50),
    );
    standin.script(
        Platform::Discord,
        std::iter::repeat_n(Behaviour::Status(500), 50),
    );
    let svc = Service::start(&config(&standin, "max_age = \"1s\"")).await;
    let (h, b) = numbered_issue(SECRET, 1);
    assert_eq!(svc.post("github", &h, b).await.status, 202);
    rows_eventually(&svc, Status::Dead, 2, 20, "given up").await;
    let dead = svc.store().list(Some(Status::Dead), 10).await.unwrap();
    for r in dead {
        let e = r.last_error.unwrap_or_default();
        assert!(e.contains("max_age") && e.contains("500"), "{e}");
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_is_answered_200_and_queues_nothing_also_after_restart() {
    let standin = StandIn::start().await;
    // the store outlives both services
    let store_dir = tempfile::tempdir().unwrap();
    let db = store_dir.path().join("hb.db");
    let cfg =
        config(&standin, "min_interval = \"0s\"").replace("{dir}/hb.db", db.to_str().unwrap());
    let svc = Service::start(&cfg).await;
    let (h, b) = numbered_issue(SECRET, 3);
    assert_eq!(svc.post("github", &h, b.clone()).await.status, 202);
    let a = svc.post("github", &h, b.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("duplicate"));
    standin.wait_for(2).await;
    svc.stop().await;
    // restart on the same store file
    let svc = Service::start(&cfg).await;
    let a = svc.post("github", &h, b).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("duplicate"));
    assert_eq!(svc.store().list(None, 10).await.unwrap().len(), 2);
    svc.stop().await;
    assert_eq!(standin.received().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slow_channel_does_not_hold_up_another() {
    let standin = StandIn::start().await;
    let cfg = format!(
        r##"
[store]
path = "{{dir}}/hb.db"
[sources.github]
kind = "github"
secret = "{SECRET}"
[sinks.slack]
kind = "slack"
token = "xoxb-test-token"
api_base = "{}"
[[routes]]
events = ["issues"]
repos = ["acme/api"]
to = ["slack:#busy"]
[[routes]]
events = ["issues"]
repos = ["acme/web"]
to = ["slack:#quiet"]
"##,
        standin.slack_api_base()
    );
    let svc = Service::start(&cfg).await;
    // three to #busy (Slack pace: one per second per channel), then one to #quiet
    for i in 0..3 {
        let (h, b) = numbered_issue(SECRET, i);
        assert_eq!(svc.post("github", &h, b).await.status, 202);
    }
    let (h, b) = numbered_issue(SECRET, 9);
    let b = String::from_utf8(b)
        .unwrap()
        .replace("acme/api", "acme/web")
        .into_bytes();
    let mut h = h;
    h.retain(|(k, _)| k != "X-Hub-Signature-256");
    h.extend(signature_headers("github", SECRET, &b));
    assert_eq!(svc.post("github", &h, b).await.status, 202);
    let got = standin.wait_for(4).await;
    let channels: Vec<String> = got
        .iter()
        .map(|r| r.json()["channel"].as_str().unwrap().to_string())
        .collect();
    // #quiet is not queued behind #busy's pacing
    let quiet_at = channels.iter().position(|c| c == "#quiet").unwrap();
    assert!(quiet_at < 3, "{channels:?}");
    svc.stop().await;
}

/// A stdout nobody reads (a full pipe) holds the stdout sink only: the
/// service goes on answering, and the messages wait in the outbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stdout_does_not_stall_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"hb.db\"\n[delivery]\ntimeout = \"1s\"\n\
             [sources.github]\nkind = \"github\"\nsecret = \"{SECRET}\"\n\
             [sinks.one]\nkind = \"stdout\"\n[sinks.two]\nkind = \"stdout\"\n\
             [[routes]]\nto = [\"one\", \"two\"]\n"
        ),
    )
    .unwrap();
    // Two runtime threads, as on the 2-core machine: both would be needed
    // to block the service if stdout lanes wrote on them.
    let proc = Proc::serve_stdout_unread(&config, &[("TOKIO_WORKER_THREADS", "2")]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    // Far more than a pipe's 64 KiB: two messages of ~100 bytes per delivery.
    let answered = |n: usize| {
        let proc = &proc;
        async move {
            let (h, b) = numbered_issue(SECRET, n);
            tokio::time::timeout(Duration::from_secs(10), proc.post("github", &h, b))
                .await
                .unwrap_or_else(|_| panic!("delivery {n}: no answer while stdout is stalled"))
                .status
        }
    };
    for n in 0..1000 {
        assert_eq!(answered(n).await, 202, "delivery {n}");
    }
    eventually(20, "stdout lanes backed up", || async {
        proc.stderr().contains("stdout is not keeping up")
            || proc.stderr().contains("no answer within")
    })
    .await;
    // Still answering: health, metrics and new deliveries.
    for _ in 0..5 {
        let r = client
            .get(format!("{}/healthz", proc.addr))
            .send()
            .await
            .expect("healthz answers while stdout is stalled");
        assert_eq!(r.status().as_u16(), 200);
    }
    assert_eq!(answered(100_000).await, 202);
}

/// A Discord global rate limit holds every channel of the bot, not only
/// the lane that met it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discord_global_rate_limit_holds_every_channel_of_the_bot() {
    let standin = StandIn::start().await;
    standin.script(
        Platform::Discord,
        [Behaviour::Global429 {
            retry_after_secs: 1,
        }],
    );
    let toml = format!(
        r##"
[store]
path = "{{dir}}/hb.db"

[delivery]
timeout = "2s"

[sources.github]
kind = "github"
secret = "{SECRET}"

[sinks.bot]
kind = "discord"
token = "bot-token"
api_base = "{api}"

[[routes]]
events = ["issues"]
to = ["bot:111"]

[[routes]]
events = ["push"]
to = ["bot:222"]
"##,
        api = standin.discord_api_base(),
    );
    let svc = Service::start(&toml).await;
    let a = svc
        .post_fixture("github", "github", SECRET, "github/issues.opened.1.json")
        .await;
    assert_eq!(a.status, 202);
    // channel 111 meets the global limit...
    let first = standin.wait_for(1).await;
    assert!(first[0].path.contains("/channels/111/"), "{:?}", first[0]);
    eventually(10, "the global 429 recorded", || async {
        svc.store()
            .list(Some(Status::Pending), 10)
            .await
            .unwrap()
            .iter()
            .any(|r| {
                r.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("rate limited"))
            })
    })
    .await;
    // ...and channel 222, a lane of its own, waits it out too
    let a = svc
        .post_fixture("github", "github", SECRET, "github/push.1.json")
        .await;
    assert_eq!(a.status, 202);
    let got = standin.wait_for(3).await;
    let to_222 = got
        .iter()
        .find(|r| r.path.contains("/channels/222/"))
        .expect("channel 222 posted");
    let waited = to_222.at.duration_since(first[0].at);
    assert!(
        waited >= Duration::from_millis(900),
        "channel 222 posted {waited:?} after the global 429"
    );
    rows_eventually(&svc, Status::Sent, 2, 10, "both sent").await;
    svc.stop().await;
}

/// The shipped bridge.toml, as an operator runs it, with Slack and Discord
/// pointed at the stand-in, which rate-limits and fails at times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_config_delivers_to_slack_and_discord() {
    let standin = StandIn::start().await;
    standin.script(
        Platform::Slack,
        [
            Behaviour::Ok,
            Behaviour::Status429 {
                retry_after_secs: 1,
            },
        ],
    );
    standin.script(Platform::Discord, [Behaviour::Status(500)]);
    let dir = tempfile::tempdir().unwrap();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bridge.toml");
    let db = dir.path().join("hb.db");
    let proc = Proc::serve(
        &config,
        &["--store", db.to_str().unwrap()],
        &[
            ("WEBHOOK_SECRET", SECRET),
            ("SLACK_BOT_TOKEN", "xoxb-shipped"),
            ("SLACK_API_BASE", &standin.slack_api_base()),
            (
                "DISCORD_WEBHOOK_URL",
                &standin.discord_webhook_url(7, "shipped-token"),
            ),
            ("DISCORD_API_BASE", &standin.discord_api_base()),
        ],
    );
    let mut expect_slack = 0;
    let mut expect_discord = 0;
    for rel in [
        "github/push.1.json",
        "github/pull_request.opened.1.json",
        "github/issues.opened.1.json",
    ] {
        let body = fixture(rel);
        let mut h = fixture_headers(rel);
        h.extend(signature_headers("github", SECRET, &body));
        let a = proc.post("github", &h, body).await;
        assert_eq!(a.status, 202, "{rel}: {}", a.body);
        expect_slack += 1;
    }
    for rel in [
        "huggingface/repo.content.update.1.json",
        "huggingface/discussion.create.1.json",
    ] {
        let body = fixture(rel);
        let h = signature_headers("huggingface", SECRET, &body);
        let a = proc.post("huggingface", &h, body).await;
        assert_eq!(a.status, 202, "{rel}: {}", a.body);
        expect_discord += 1;
    }
    eventually(30, "all delivered", || async {
        let ok: Vec<_> = standin.received();
        let slack = ok
            .iter()
            .filter(|r| r.platform == Some(Platform::Slack))
            .count();
        let discord = ok
            .iter()
            .filter(|r| r.platform == Some(Platform::Discord))
            .count();
        // one 429 and one 500 were retried
        slack == expect_slack + 1 && discord == expect_discord + 1
    })
    .await;
    // the console sink printed every routed message too
    eventually(10, "console output", || async {
        proc.stdout().matches("console").count() >= 5
    })
    .await;
    let stderr = proc.stderr();
    for secret in [SECRET, "xoxb-shipped", "shipped-token"] {
        assert!(!stderr.contains(secret), "{secret} in logs");
        assert!(!proc.stdout().contains(secret), "{secret} on stdout");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_across_kill_9() {
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg =
        config(&standin, "min_interval = \"30ms\"").replace("{dir}", dir.path().to_str().unwrap());
    let cfg_path = dir.path().join("bridge.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let n = 40;
    let mut proc = Proc::serve(&cfg_path, &[], &[]);
    for i in 0..n {
        let (h, b) = numbered_issue(SECRET, i);
        let a = proc.post("github", &h, b).await;
        assert_eq!(a.status, 202, "{}", a.body);
    }
    // kill -9 while messages are still going out
    standin.wait_for(10).await;
    proc.kill9();
    let before = standin.received().len();
    assert!(
        before < 2 * n,
        "all sent before the kill: make the test slower"
    );
    let _proc = Proc::serve(&cfg_path, &[], &[]);
    let want: Vec<String> = (0..n).map(|i| format!("issue-{i:04}")).collect();
    eventually(60, "every accepted message after the restart", || async {
        let lanes = by_lane(&standin);
        dedup_consecutive(lanes.get("slack:#eng")) == want
            && dedup_consecutive(lanes.get("discord")) == want
    })
    .await;
    // a message is sent twice only when the kill cut its answer: at most one per lane
    let lanes = by_lane(&standin);
    for (lane, got) in &lanes {
        assert!(
            got.len() <= n + 1,
            "{lane}: {} sends for {n} messages",
            got.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_send_in_hand_finish() {
    let standin = StandIn::start().await;
    standin.script(
        Platform::Slack,
        [Behaviour::Slow(Duration::from_millis(1500))],
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&standin, "").replace("{dir}", dir.path().to_str().unwrap());
    let cfg_path = dir.path().join("bridge.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut proc = Proc::serve(&cfg_path, &[], &[]);
    let (h, b) = numbered_issue(SECRET, 5);
    assert_eq!(proc.post("github", &h, b).await.status, 202);
    // the slow Slack send is in hand; discord answered at once
    standin.wait_for(2).await;
    proc.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let s = proc.wait_exit(20);
        (s, proc)
    })
    .await
    .unwrap();
    assert!(
        status.0.success(),
        "exit {:?}\n{}",
        status.0,
        status.1.stderr()
    );
    // both rows were recorded as sent before the exit
    let store = hookbridge::outbox::SqliteStore::open(&dir.path().join("hb.db")).unwrap();
    use hookbridge::outbox::Store;
    let sent = store.list(Some(Status::Sent), 10).await.unwrap();
    assert_eq!(sent.len(), 2, "{:?}", store.list(None, 10).await.unwrap());
}

/// `Retry-After: 0` (Discord: `retry_after: 0` too) four times, then
/// success: each lane waits at least a second after each 429 instead of
/// retrying at once, and the message goes out on the fifth attempt. A
/// channel whose rows are all refused for good is tried at most once a
/// second as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_saying_zero_is_retried_at_most_once_a_second() {
    let standin = StandIn::start().await;
    let zero = Behaviour::Status429 {
        retry_after_secs: 0,
    };
    for platform in [Platform::Slack, Platform::Discord] {
        standin.script(platform, vec![zero.clone(); 4]);
    }
    let svc = Service::start(&config(&standin, "min_interval = \"0s\"")).await;
    let (h, body) = numbered_issue(SECRET, 1);
    assert_eq!(svc.post("github", &h, body).await.status, 202);
    let got = standin.wait_for(10).await;
    for platform in [Platform::Slack, Platform::Discord] {
        let times: Vec<_> = got
            .iter()
            .filter(|r| r.platform == Some(platform))
            .map(|r| r.at)
            .collect();
        assert_eq!(times.len(), 5, "{platform:?}: {} attempts", times.len());
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= std::time::Duration::from_millis(950),
                "{platform:?}: attempts {gap:?} apart"
            );
        }
    }
    rows_eventually(&svc, Status::Sent, 2, 5, "both messages sent").await;

    // three rows Slack refuses for good: dead, one a second
    standin.script(
        Platform::Slack,
        vec![Behaviour::SlackError("channel_not_found"); 3],
    );
    for n in 2..=4 {
        let (h, body) = numbered_issue(SECRET, n);
        assert_eq!(svc.post("github", &h, body).await.status, 202);
    }
    let got = standin.wait_for(16).await;
    let refused: Vec<_> = got
        .iter()
        .filter(|r| r.platform == Some(Platform::Slack))
        .skip(5)
        .map(|r| r.at)
        .collect();
    assert_eq!(refused.len(), 3);
    for pair in refused.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= std::time::Duration::from_millis(950),
            "refused rows tried {gap:?} apart"
        );
    }
    rows_eventually(&svc, Status::Dead, 3, 5, "the refused rows dead").await;
    svc.stop().await;
}

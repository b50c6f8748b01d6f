//! Running hookbridge as a service: `GET /healthz`, `GET /metrics`, the
//! `deliveries` and `replay` commands run beside a live service on the same
//! store file, SIGHUP reload, and the JSON logs.
//!
//! The service is the real binary ([`Proc`]): its metrics are its own (the
//! recorder is process-global, so in-process services would share
//! counters), and its signals are real.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;
use crate::standin::{Behaviour, Platform, StandIn};

const SECRET: &str = "ops-source-secret-5d1e";
const BOT_TOKEN: &str = "xoxb-ops-bot-token-77a2";
const HOOK_TOKEN: &str = "ops-discord-hook-token-c9f0";
const PARKED_TOKEN: &str = "ops-parked-hook-token-41b8";
const HF_SECRET: &str = "ops-hf-query-secret-0e6d";

/// The config every test starts from: GitHub + Hugging Face sources;
/// Slack (bot token) and Discord (webhook) at the stand-in; `parked`, a
/// Discord webhook at a closed loopback port (its messages stay pending,
/// retried); `console` on stdout. `routes` is appended as is.
fn config(standin: &StandIn, db: &Path, routes: &str) -> String {
    format!(
        r##"
[server]
max_body_bytes = 65536

[store]
path = "{db}"

[delivery]
timeout = "2s"
min_interval = "0s"

[sources.github]
kind = "github"
secret = "{SECRET}"

[sources.huggingface]
kind = "huggingface"
secret = "{HF_SECRET}"

[sinks.slack]
kind = "slack"
token = "{BOT_TOKEN}"
api_base = "{slack}"

[sinks.discord]
kind = "discord"
webhook_url = "{discord}"
api_base = "{discord_api}"

[sinks.parked]
kind = "discord"
webhook_url = "http://127.0.0.1:{closed}/api/webhooks/9/{PARKED_TOKEN}"
api_base = "http://127.0.0.1:{closed}/api/v10/"

[sinks.console]
kind = "stdout"

{routes}
"##,
        db = db.display(),
        slack = standin.slack_api_base(),
        discord = standin.discord_webhook_url(42, HOOK_TOKEN),
        discord_api = standin.discord_api_base(),
        closed = closed_port(),
    )
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Writes bridge.toml into `dir` and returns its path.
fn write_config(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("bridge.toml");
    std::fs::write(&p, text).unwrap();
    p
}

/// A started binary on a fresh temp dir with `routes`.
struct Ops {
    _dir: tempfile::TempDir,
    cfg: PathBuf,
    db: PathBuf,
    proc: Proc,
}

fn serve(standin: &StandIn, routes: &str) -> Ops {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hb.db");
    let cfg = write_config(dir.path(), &config(standin, &db, routes));
    let proc = Proc::serve(&cfg, &[], &[]);
    Ops {
        _dir: dir,
        cfg,
        db,
        proc,
    }
}

struct Got {
    status: u16,
    content_type: String,
    body: String,
}

async fn get(base: &str, path: &str) -> Got {
    let resp = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    Got {
        status: resp.status().as_u16(),
        content_type: resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string(),
        body: resp.text().await.unwrap(),
    }
}

/// `hookbridge --config <cfg> <args>` as a separate process, off the runtime.
async fn cli(cfg: &Path, args: &[&str]) -> Output {
    let cfg = cfg.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_hookbridge"))
            .arg("--config")
            .arg(&cfg)
            .args(&args)
            .env_remove("HOOKBRIDGE_CONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run hookbridge")
    })
    .await
    .unwrap()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `deliveries --json <args>`: one object per row.
async fn rows(cfg: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["deliveries", "--json"];
    all.extend_from_slice(args);
    let o = cli(cfg, &all).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A GitHub delivery of `event` with `body`, id `id`, signed with `secret`.
fn github(event: &str, id: &str, secret: &str, body: Vec<u8>) -> (Vec<(String, String)>, Vec<u8>) {
    let mut h = vec![
        ("X-GitHub-Event".to_string(), event.to_string()),
        ("X-GitHub-Delivery".to_string(), id.to_string()),
        ("Content-Type".to_string(), "application/json".to_string()),
    ];
    h.extend(signature_headers("github", secret, &body));
    (h, body)
}

/// Prometheus text, parsed into (name, labels, value) samples.
struct Metrics(Vec<(String, BTreeMap<String, String>, f64)>);

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut v = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("not a sample: {line}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let inner = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("bad labels: {line}"));
                    (name.to_string(), parse_labels(inner))
                }
            };
            v.push((name, labels, value));
        }
        Metrics(v)
    }

    /// The sample with exactly these labels.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0
            .iter()
            .find(|(n, l, _)| n == name && *l == want)
            .map(|(_, _, v)| *v)
    }

    /// Like `get`, absent counting as 0 (counters appear on first use).
    fn count(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }
}

/// `a="x",b="y"` (values without escapes in these tests' labels).
fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (k, after) = rest.split_once("=\"").unwrap();
        let end = after.find('"').unwrap();
        out.insert(
            k.trim_start_matches(',').to_string(),
            after[..end].to_string(),
        );
        rest = after[end + 1..].trim_start_matches(',');
    }
    out
}

async fn metrics(base: &str) -> Metrics {
    let got = get(base, "/metrics").await;
    assert_eq!(got.status, 200, "{}", got.body);
    Metrics::parse(&got.body)
}

/// The `fields` of every JSON log line with `message == msg`.
fn log_lines(stderr: &str, msg: &str) -> Vec<Value> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"].as_str() == Some(msg))
        .map(|v| v["fields"].clone())
        .collect()
}

/// The text a stand-in request carried (Slack `text`, Discord `content`).
fn text_of(r: &crate::standin::Received) -> String {
    let v = r.json();
    v["text"]
        .as_str()
        .or_else(|| v["content"].as_str())
        .unwrap_or("")
        .to_string()
}

// ---------------------------------------------------------------- healthz

/// 200 `ok` while the store takes writes. While another process holds the
/// SQLite write lock (as a backup tool or a stuck CLI would), the store
/// cannot take writes: `/healthz` says 503 and a delivery is refused 503
/// (nothing stored, so the sender's retry is accepted, not a duplicate).
/// Both recover once the lock goes. (Each refusal waits out the store's
/// 5 s busy timeout, so this test takes about 10 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_whether_the_store_can_take_writes() {
    let standin = StandIn::start().await;
    let ops = serve(
        &standin,
        "[[routes]]\nevents = [\"issues\"]\nto = [\"slack:#eng\"]\n",
    );
    let base = ops.proc.addr.clone();

    let h = get(&base, "/healthz").await;
    assert_eq!((h.status, h.body.trim()), (200, "ok"), "{}", h.body);

    // Another process (this test) takes the write lock and keeps it.
    let lock = rusqlite::Connection::open(&ops.db).unwrap();
    lock.busy_timeout(Duration::from_secs(5)).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();

    let (hd, body) = numbered_issue(SECRET, 1);
    let (health, post) = tokio::join!(
        get(&base, "/healthz"),
        ops.proc.post("github", &hd, body.clone())
    );
    assert_eq!(
        health.status, 503,
        "healthz with the store locked: {}",
        health.body
    );
    assert!(health.body.contains("not writable"), "{}", health.body);
    assert_eq!(
        post.status, 503,
        "delivery with the store locked: {}",
        post.body
    );
    let m = metrics(&base).await;
    assert_eq!(
        m.get(
            "hookbridge_deliveries_rejected_total",
            &[("source", "github"), ("reason", "store")]
        ),
        Some(1.0)
    );

    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);

    let h = get(&base, "/healthz").await;
    assert_eq!(
        (h.status, h.body.trim()),
        (200, "ok"),
        "after the lock went: {}",
        h.body
    );
    // The sender retries the refused delivery: it was not stored, so it is
    // accepted now (not a duplicate) and delivered.
    let again = ops.proc.post("github", &hd, body).await;
    assert_eq!(again.status, 202, "{}", again.body);
    let got = standin.wait_for(1).await;
    assert!(text_of(&got[0]).contains("issue-0001"), "{:?}", got[0]);
}

// ---------------------------------------------------------------- metrics

/// `/metrics` is Prometheus text whose counters follow the traffic: 2
/// accepted deliveries to three sinks, one wrong signature, one oversize
/// body; Slack fails once with 500 (retried), Discord refuses the first
/// message with 404 (dead), `parked` cannot be reached (pending, retried).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_flows() {
    let standin = StandIn::start().await;
    standin.script(Platform::Slack, [Behaviour::Status(500)]);
    standin.script(Platform::Discord, [Behaviour::Status(404)]);
    let ops = serve(
        &standin,
        "[[routes]]\nevents = [\"issues\"]\nto = [\"slack:#eng\", \"discord\", \"parked\"]\n",
    );
    let base = ops.proc.addr.clone();

    let got = get(&base, "/metrics").await;
    assert_eq!(got.status, 200);
    assert!(
        got.content_type.starts_with("text/plain"),
        "{}",
        got.content_type
    );
    let before = Metrics::parse(&got.body);
    assert_eq!(
        before.count(
            "hookbridge_deliveries_received_total",
            &[("source", "github")]
        ),
        0.0
    );
    for sink in ["slack", "discord", "parked", "console"] {
        assert_eq!(
            before.get("hookbridge_queue_depth", &[("sink", sink)]),
            Some(0.0),
            "{sink}\n{}",
            got.body
        );
    }

    for n in 1..=2 {
        let (h, b) = numbered_issue(SECRET, n);
        let a = ops.proc.post("github", &h, b).await;
        assert_eq!(a.status, 202, "{}", a.body);
    }
    let (h, b) = numbered_issue("not-the-secret", 3);
    assert_eq!(ops.proc.post("github", &h, b).await.status, 401);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)).into_bytes();
    let (h, b) = github("issues", "too-big-1", SECRET, big);
    assert_eq!(ops.proc.post("github", &h, b).await.status, 413);

    // slack: 500 then two sends; discord: 404 then one send
    standin.wait_for(5).await;
    eventually(15, "sends counted", || {
        let base = base.clone();
        async move {
            let m = metrics(&base).await;
            m.count("hookbridge_messages_sent_total", &[("sink", "slack")]) == 2.0
                && m.count("hookbridge_messages_sent_total", &[("sink", "discord")]) == 1.0
                && m.count("hookbridge_messages_dead_total", &[("sink", "discord")]) == 1.0
                && m.count("hookbridge_messages_retried_total", &[("sink", "parked")]) >= 1.0
                && m.get("hookbridge_queue_depth", &[("sink", "slack")]) == Some(0.0)
                && m.get("hookbridge_queue_depth", &[("sink", "discord")]) == Some(0.0)
        }
    })
    .await;
    let text = get(&base, "/metrics").await.body;
    let m = Metrics::parse(&text);
    let c = |name: &str, labels: &[(&str, &str)]| m.get(name, labels);

    assert_eq!(
        c(
            "hookbridge_deliveries_received_total",
            &[("source", "github")]
        ),
        Some(4.0),
        "{text}"
    );
    assert_eq!(
        c(
            "hookbridge_deliveries_rejected_total",
            &[("source", "github"), ("reason", "signature")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        c(
            "hookbridge_deliveries_rejected_total",
            &[("source", "github"), ("reason", "too_large")]
        ),
        Some(1.0),
        "{text}"
    );
    for sink in ["slack", "discord", "parked"] {
        assert_eq!(
            c("hookbridge_messages_routed_total", &[("sink", sink)]),
            Some(2.0),
            "{sink}: {text}"
        );
    }
    assert_eq!(
        c("hookbridge_messages_routed_total", &[("sink", "console")]),
        None,
        "{text}"
    );
    assert_eq!(
        c("hookbridge_messages_sent_total", &[("sink", "slack")]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        c("hookbridge_messages_sent_total", &[("sink", "discord")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        c("hookbridge_messages_sent_total", &[("sink", "parked")]),
        None,
        "{text}"
    );
    assert_eq!(
        c("hookbridge_messages_retried_total", &[("sink", "slack")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        c("hookbridge_messages_retried_total", &[("sink", "discord")]),
        None,
        "{text}"
    );
    assert_eq!(
        c("hookbridge_messages_dead_total", &[("sink", "discord")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        c("hookbridge_messages_dead_total", &[("sink", "slack")]),
        None,
        "{text}"
    );
    assert_eq!(
        c("hookbridge_queue_depth", &[("sink", "parked")]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        c("hookbridge_queue_depth", &[("sink", "console")]),
        Some(0.0),
        "{text}"
    );

    // the histogram: one observation per send attempt
    assert!(
        text.contains("# TYPE hookbridge_send_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE hookbridge_deliveries_received_total counter"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE hookbridge_queue_depth gauge"),
        "{text}"
    );
    let hist = "hookbridge_send_duration_seconds";
    assert_eq!(
        c(&format!("{hist}_count"), &[("sink", "slack")]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        c(&format!("{hist}_count"), &[("sink", "discord")]),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        c(
            &format!("{hist}_bucket"),
            &[("sink", "slack"), ("le", "+Inf")]
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        c(
            &format!("{hist}_bucket"),
            &[("sink", "slack"), ("le", "10")]
        ),
        Some(3.0),
        "{text}"
    );
    let sum = c(&format!("{hist}_sum"), &[("sink", "slack")]).unwrap_or(-1.0);
    assert!(sum > 0.0 && sum < 6.0, "slack send time sum {sum}: {text}");
    assert!(
        c(&format!("{hist}_count"), &[("sink", "parked")]).unwrap_or(0.0) >= 1.0,
        "{text}"
    );

    // `parked` leaves the config (reload) and its rows are given up: its
    // depth reads 0, not the 2 it last had.
    let cfg = std::fs::read_to_string(&ops.cfg).unwrap();
    let without = cfg
        .replace(", \"parked\"]", "]")
        .replace("[sinks.parked]", "[sinks.parked-gone]");
    assert_ne!(without, cfg);
    std::fs::write(&ops.cfg, &without).unwrap();
    ops.proc.signal("HUP");
    eventually(10, "reloaded", || async {
        ops.proc.stderr().contains("config reloaded")
    })
    .await;
    let raw = rusqlite::Connection::open(&ops.db).unwrap();
    raw.busy_timeout(Duration::from_secs(5)).unwrap();
    raw.execute(
        "UPDATE outbox SET status = 'dead' WHERE sink = 'parked'",
        [],
    )
    .unwrap();
    let m = metrics(&base).await;
    assert_eq!(
        m.get("hookbridge_queue_depth", &[("sink", "parked")]),
        Some(0.0),
        "a removed sink's depth"
    );
}

// ---------------------------------------------------------------- deliveries

/// `deliveries` from a second process on the live service's store: every
/// row with its fields, `--status` and `--limit` filters, a text table with
/// a header, and usage errors exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_lists_the_live_outbox_from_another_process() {
    let standin = StandIn::start().await;
    standin.script(Platform::Discord, [Behaviour::Status(404)]);
    let ops = serve(
        &standin,
        "[[routes]]\nevents = [\"issues\"]\nto = [\"slack:#eng\", \"discord\", \"parked\"]\n",
    );
    for n in 1..=2 {
        let (h, b) = numbered_issue(SECRET, n);
        assert_eq!(ops.proc.post("github", &h, b).await.status, 202);
    }
    standin.wait_for(4).await;
    eventually(15, "3 sent, 1 dead", || async {
        rows(&ops.cfg, &["--status", "sent"]).await.len() == 3
            && rows(&ops.cfg, &["--status", "dead"]).await.len() == 1
    })
    .await;

    let all = rows(&ops.cfg, &[]).await;
    assert_eq!(all.len(), 6, "{all:#?}");
    let mut ids: Vec<i64> = all.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    for r in &all {
        for key in [
            "id",
            "status",
            "source",
            "kind",
            "repo",
            "sink",
            "channel",
            "attempts",
            "last_error",
            "created_at",
        ] {
            assert!(r.get(key).is_some(), "no `{key}` in {r}");
        }
        assert_eq!(r["source"], "github", "{r}");
        assert_eq!(r["kind"], "issues.opened", "{r}");
        assert_eq!(r["repo"], "acme/api", "{r}");
        let created = r["created_at"].as_str().unwrap();
        humantime::parse_rfc3339_weak(created)
            .unwrap_or_else(|e| panic!("created_at {created}: {e}"));
        match r["sink"].as_str().unwrap() {
            "slack" => {
                assert_eq!(
                    (r["status"].as_str(), r["channel"].as_str()),
                    (Some("sent"), Some("#eng")),
                    "{r}"
                );
                assert_eq!(r["attempts"], 1, "{r}");
                assert!(r["last_error"].is_null(), "{r}");
            }
            "discord" => assert!(r["channel"].is_null(), "{r}"),
            "parked" => assert_eq!(r["status"], "pending", "{r}"),
            other => panic!("unexpected sink {other}: {r}"),
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "ids are unique");

    let dead = rows(&ops.cfg, &["--status", "dead"]).await;
    let d = &dead[0];
    assert_eq!(
        (d["sink"].as_str(), d["status"].as_str()),
        (Some("discord"), Some("dead")),
        "{d}"
    );
    assert_eq!(d["attempts"], 1, "{d}");
    assert_eq!(
        d["delivery_id"], "delivery-1",
        "the first message met the 404: {d}"
    );
    let err = d["last_error"].as_str().unwrap_or("");
    assert!(
        err.contains("404") || err.contains("Unknown Webhook"),
        "{d}"
    );

    let pending = rows(&ops.cfg, &["--status", "pending"]).await;
    assert_eq!(pending.len(), 2, "{pending:#?}");
    assert!(
        pending
            .iter()
            .all(|r| r["sink"] == "parked" && r["status"] == "pending"),
        "{pending:#?}"
    );

    // --limit keeps the listing's order and cuts it
    let two = rows(&ops.cfg, &["--limit", "2"]).await;
    assert_eq!(two, all[..2].to_vec());
    let one_sent = rows(&ops.cfg, &["--status", "sent", "--limit", "1"]).await;
    assert_eq!(one_sent.len(), 1);
    assert_eq!(one_sent[0]["status"], "sent");

    // the text table: a header, then one line per row
    let o = cli(&ops.cfg, &["deliveries"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 7, "{text}");
    let header = lines[0].to_lowercase();
    for col in ["id", "status", "source", "kind", "repo"] {
        assert!(header.contains(col), "header lacks {col}: {text}");
    }
    for r in &all {
        let id = r["id"].as_i64().unwrap().to_string();
        assert!(
            lines[1..]
                .iter()
                .any(|l| l.split_whitespace().next() == Some(id.as_str())
                    && l.contains(r["status"].as_str().unwrap())
                    && l.contains(r["sink"].as_str().unwrap())),
            "no line for row {id}: {text}"
        );
    }
    let o = cli(&ops.cfg, &["deliveries", "--status", "dead"]).await;
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].contains("dead") && lines[1].contains("discord"),
        "{text}"
    );

    for bad in [
        &["deliveries", "--status", "lost"][..],
        &["deliveries", "--limit", "many"][..],
    ] {
        let o = cli(&ops.cfg, bad).await;
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", show(&o));
    }
    // the service was running all along
    assert_eq!(get(&ops.proc.addr, "/healthz").await.status, 200);
}

// ---------------------------------------------------------------- replay

/// Dead messages queued again from the CLI are sent by the running service;
/// by id, then `--dead` for the rest. Unknown ids exit 1, usage errors 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_the_cli_is_sent_by_the_running_service() {
    let standin = StandIn::start().await;
    standin.script(
        Platform::Discord,
        std::iter::repeat_n(Behaviour::Status(404), 3),
    );
    let ops = serve(
        &standin,
        "[[routes]]\nevents = [\"issues\"]\nto = [\"discord\"]\n",
    );
    for n in 1..=3 {
        let (h, b) = numbered_issue(SECRET, n);
        assert_eq!(ops.proc.post("github", &h, b).await.status, 202);
    }
    standin.wait_for(3).await;
    eventually(15, "3 dead", || async {
        rows(&ops.cfg, &["--status", "dead"]).await.len() == 3
    })
    .await;
    let dead = rows(&ops.cfg, &["--status", "dead"]).await;
    let id_of = |delivery: &str| {
        dead.iter()
            .find(|r| r["delivery_id"] == delivery)
            .unwrap_or_else(|| panic!("no row for {delivery}: {dead:#?}"))["id"]
            .as_i64()
            .unwrap()
    };
    let first = id_of("delivery-1");

    // one by id: the platform is fine now
    let o = cli(&ops.cfg, &["replay", &first.to_string()]).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("queued 1 message"),
        "{}",
        show(&o)
    );
    let got = standin.wait_for(4).await;
    assert!(text_of(&got[3]).contains("issue-0001"), "{:?}", got[3]);
    eventually(10, "replayed row sent", || async {
        let sent = rows(&ops.cfg, &["--status", "sent"]).await;
        sent.len() == 1 && sent[0]["id"] == first
    })
    .await;
    assert_eq!(rows(&ops.cfg, &["--status", "dead"]).await.len(), 2);

    // the rest with --dead, in their order
    let o = cli(&ops.cfg, &["replay", "--dead"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("queued 2 messages"),
        "{}",
        show(&o)
    );
    let got = standin.wait_for(6).await;
    assert!(text_of(&got[4]).contains("issue-0002"), "{:?}", got[4]);
    assert!(text_of(&got[5]).contains("issue-0003"), "{:?}", got[5]);
    eventually(10, "all sent", || async {
        rows(&ops.cfg, &["--status", "sent"]).await.len() == 3
            && rows(&ops.cfg, &["--status", "dead"]).await.is_empty()
    })
    .await;
    assert_eq!(
        standin.received().len(),
        6,
        "each replayed message sent once"
    );

    let o = cli(&ops.cfg, &["replay", "987654"]).await;
    assert_eq!(o.status.code(), Some(1), "unknown id: {}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not found"),
        "{}",
        show(&o)
    );
    let o = cli(&ops.cfg, &["replay"]).await;
    assert_eq!(o.status.code(), Some(2), "no ids, no --dead: {}", show(&o));
    let o = cli(&ops.cfg, &["replay", &first.to_string(), "--dead"]).await;
    assert_eq!(o.status.code(), Some(2), "ids and --dead: {}", show(&o));
    assert_eq!(standin.received().len(), 6, "usage errors queue nothing");
}

// ---------------------------------------------------------------- reload

/// SIGHUP with a broken bridge.toml keeps the running config (and says
/// why); SIGHUP with a good one adds its route and its new sink settings,
/// and a message waiting out a 429 across the reload is still sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_good_configs_and_refuses_bad_ones() {
    let standin = StandIn::start().await;
    let issues_to_slack = "[[routes]]\nevents = [\"issues\"]\nto = [\"slack:#eng\"]\n";
    let ops = serve(&standin, issues_to_slack);
    let good = std::fs::read_to_string(&ops.cfg).unwrap();

    let (h, b) = numbered_issue(SECRET, 1);
    assert_eq!(ops.proc.post("github", &h, b).await.status, 202);
    standin.wait_for(1).await;

    // a broken config: a route to a sink that does not exist
    let broken = good.replace("to = [\"slack:#eng\"]", "to = [\"nosuch:#eng\"]");
    assert_ne!(broken, good);
    std::fs::write(&ops.cfg, &broken).unwrap();
    ops.proc.signal("HUP");
    eventually(10, "reload refused", || async {
        ops.proc.stderr().contains("reload refused")
    })
    .await;
    let stderr = ops.proc.stderr();
    let refusal = stderr
        .lines()
        .find(|l| l.contains("reload refused"))
        .unwrap();
    assert!(
        refusal.contains("nosuch"),
        "the refusal names the problem: {refusal}"
    );
    assert!(
        refusal.contains("bridge.toml"),
        "the refusal names the file: {refusal}"
    );
    assert!(!stderr.contains("config reloaded"), "{stderr}");
    // still routing with the old config
    let (h, b) = numbered_issue(SECRET, 2);
    assert_eq!(ops.proc.post("github", &h, b).await.status, 202);
    let got = standin.wait_for(2).await;
    assert!(text_of(&got[1]).contains("issue-0002"), "{:?}", got[1]);

    // a push matches nothing yet
    let push = fixture("github/push.1.json");
    let (h, b) = github("push", "push-1", SECRET, push.clone());
    let a = ops.proc.post("github", &h, b).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("no route"), "{}", a.body);

    // a message waiting out a 429 while the config changes under it
    standin.script(
        Platform::Slack,
        [Behaviour::Status429 {
            retry_after_secs: 3,
        }],
    );
    let (h, b) = numbered_issue(SECRET, 3);
    assert_eq!(ops.proc.post("github", &h, b).await.status, 202);
    standin.wait_for(3).await;

    // the new config: pushes go to discord; the Slack token is rotated
    let rotated = "xoxb-ops-rotated-token-93c1";
    let new = format!("{good}\n[[routes]]\nevents = [\"push\"]\nto = [\"discord\"]\n")
        .replace(BOT_TOKEN, rotated);
    std::fs::write(&ops.cfg, &new).unwrap();
    ops.proc.signal("HUP");
    eventually(10, "config reloaded", || async {
        ops.proc.stderr().contains("config reloaded")
    })
    .await;
    assert_eq!(
        standin.received().len(),
        3,
        "the 429'd message waits out its Retry-After"
    );

    let (h, b) = github("push", "push-2", SECRET, push);
    let a = ops.proc.post("github", &h, b).await;
    assert_eq!(a.status, 202, "the new route matches: {}", a.body);
    eventually(
        15,
        "push on discord, issue-0003 retried on slack",
        || async {
            let got = standin.received();
            let discord_push = got.iter().any(|r| r.platform == Some(Platform::Discord));
            let retried = got
                .iter()
                .skip(3)
                .any(|r| r.platform == Some(Platform::Slack) && text_of(r).contains("issue-0003"));
            discord_push && retried
        },
    )
    .await;
    let got = standin.received();
    let retry = got
        .iter()
        .skip(3)
        .find(|r| r.platform == Some(Platform::Slack))
        .unwrap();
    assert_eq!(
        retry.authorization.as_deref(),
        Some(format!("Bearer {rotated}").as_str()),
        "queued work goes out through the reloaded sink"
    );
    assert_eq!(got.len(), 5, "{got:#?}");
    assert_eq!(get(&ops.proc.addr, "/healthz").await.status, 200);
}

// ---------------------------------------------------------------- logs

/// With `--log-format json` every stderr line is JSON; each handled
/// delivery is one line with source, delivery id, kind, repo and outcome;
/// and no secret or token shows anywhere, even in send errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_one_line_per_delivery_and_no_secrets() {
    let standin = StandIn::start().await;
    let ops = serve(
        &standin,
        "[[routes]]\nsources = [\"github\"]\nevents = [\"issues\"]\nto = [\"slack:#eng\", \"discord\", \"parked\", \"console\"]\n",
    );
    let p = &ops.proc;

    let (h, b) = numbered_issue(SECRET, 1);
    assert_eq!(p.post("github", &h, b.clone()).await.status, 202);
    assert_eq!(p.post("github", &h, b).await.status, 200, "duplicate");
    let ping = fixture("github/ping.1.json");
    let (h, b) = github("ping", "ping-1", SECRET, ping);
    assert_eq!(p.post("github", &h, b).await.status, 200);
    let hf = fixture("huggingface/repo.content.update.1.json");
    let a = p
        .post(
            &format!("huggingface?secret={HF_SECRET}"),
            &[("Content-Type".to_string(), "application/json".to_string())],
            hf,
        )
        .await;
    assert_eq!(a.status, 200, "verified, unrouted: {}", a.body);

    // sent to slack, discord and stdout; `parked` fails to connect and retries
    standin.wait_for(2).await;
    eventually(
        10,
        "console output, a parked retry and 4 deliveries logged",
        || async {
            let stderr = p.stderr();
            p.stdout().contains("issue-0001")
                && log_lines(&stderr, "send failed; will retry")
                    .iter()
                    .any(|f| f["sink"] == "parked")
                && log_lines(&stderr, "delivery").len() >= 4
        },
    )
    .await;

    let stderr = p.stderr();
    for line in stderr.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }
    let deliveries = log_lines(&stderr, "delivery");
    assert_eq!(
        deliveries.len(),
        4,
        "one line per delivery: {deliveries:#?}"
    );
    for f in &deliveries {
        for key in ["source", "delivery", "kind", "repo", "outcome"] {
            assert!(f.get(key).is_some(), "no `{key}` in {f}");
        }
    }
    let of =
        |id: &str| -> Vec<&Value> { deliveries.iter().filter(|f| f["delivery"] == id).collect() };
    let issue = of("delivery-1");
    assert_eq!(issue.len(), 2, "{deliveries:#?}");
    assert_eq!(issue[0]["outcome"], "queued");
    assert_eq!(issue[1]["outcome"], "duplicate");
    for f in &issue {
        assert_eq!(
            (f["source"].as_str(), f["kind"].as_str(), f["repo"].as_str()),
            (Some("github"), Some("issues.opened"), Some("acme/api"))
        );
    }
    let ping = of("ping-1");
    assert_eq!(ping.len(), 1, "{deliveries:#?}");
    assert_eq!(
        (ping[0]["kind"].as_str(), ping[0]["outcome"].as_str()),
        (Some("ping"), Some("ping"))
    );
    let hf: Vec<_> = deliveries
        .iter()
        .filter(|f| f["source"] == "huggingface")
        .collect();
    assert_eq!(hf.len(), 1, "{deliveries:#?}");
    assert_eq!(hf[0]["kind"], "repo.content.update");
    assert_eq!(hf[0]["repo"], "spaces/Wauplin/gradio-user-history");
    assert_eq!(hf[0]["outcome"], "unrouted");
    assert!(
        !hf[0]["delivery"].as_str().unwrap_or("").is_empty(),
        "{}",
        hf[0]
    );

    let stdout = p.stdout();
    for secret in [SECRET, BOT_TOKEN, HOOK_TOKEN, PARKED_TOKEN, HF_SECRET] {
        assert!(!stderr.contains(secret), "{secret} in stderr:\n{stderr}");
        assert!(!stdout.contains(secret), "{secret} on stdout:\n{stdout}");
    }
    // the tokens went where they belong, and only there
    let got = standin.received();
    assert!(
        got.iter()
            .any(|r| r.authorization.as_deref() == Some(&format!("Bearer {BOT_TOKEN}")))
    );
    assert!(got.iter().any(|r| r.path.contains(HOOK_TOKEN)));
}

/// A refused delivery is logged as one line too, with the delivery id its
/// sender gave (to find it in the forge's "recent deliveries") and an
/// outcome, like the accepted ones: a wrong signature and an oversize body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_delivery_is_logged_with_its_id_and_outcome() {
    let standin = StandIn::start().await;
    let ops = serve(
        &standin,
        "[[routes]]\nevents = [\"issues\"]\nto = [\"console\"]\n",
    );
    let (mut h, b) = numbered_issue("not-the-secret", 1);
    for (k, v) in h.iter_mut() {
        if k == "X-GitHub-Delivery" {
            *v = "refused-1".into();
        }
    }
    assert_eq!(ops.proc.post("github", &h, b).await.status, 401);
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70_000)).into_bytes();
    let (h, b) = github("issues", "refused-2", SECRET, big);
    assert_eq!(ops.proc.post("github", &h, b).await.status, 413);
    let refusals = || {
        ops.proc
            .stderr()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["fields"].clone())
            .filter(|f| f["source"] == "github")
            .collect::<Vec<Value>>()
    };
    eventually(10, "two refusals logged", || async {
        refusals().len() >= 2
    })
    .await;
    let stderr = ops.proc.stderr();
    let lines = refusals();
    assert_eq!(lines.len(), 2, "one line per refused delivery: {stderr}");
    for (f, id, reason) in [
        (&lines[0], "refused-1", "signature"),
        (&lines[1], "refused-2", "too_large"),
    ] {
        assert_eq!(f["reason"], reason, "{f}");
        assert_eq!(f["delivery"], id, "the refusal names the delivery: {f}");
        let outcome = f["outcome"].as_str().unwrap_or("");
        assert!(
            !outcome.is_empty() && !["queued", "unrouted", "duplicate", "ping"].contains(&outcome),
            "the refusal has an outcome of its own: {f}"
        );
    }
    assert!(!stderr.contains(SECRET));
}

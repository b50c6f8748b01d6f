//! A store that cannot take writes: deliveries get 503 (the sender retries
//! later) and `/healthz` says so; nothing is answered 202 that was not stored.

use std::sync::Arc;

use async_trait::async_trait;
use hookbridge::outbox::{
    Accepted, DeliveryMeta, Lane, NewMessage, Row, RowId, Status, Store, StoreError,
};

use crate::common::*;

/// Reads work (empty), every write fails as a full or broken disk would.
struct DownStore;

#[async_trait]
impl Store for DownStore {
    async fn accept(&self, _: DeliveryMeta, _: Vec<NewMessage>) -> Result<Accepted, StoreError> {
        Err(disk_full())
    }
    async fn head(&self, _: &Lane) -> Result<Option<Row>, StoreError> {
        Ok(None)
    }
    async fn mark_sent(&self, _: RowId) -> Result<(), StoreError> {
        Err(disk_full())
    }
    async fn mark_retry(&self, _: RowId, _: i64, _: &str) -> Result<(), StoreError> {
        Err(disk_full())
    }
    async fn mark_dead(&self, _: RowId, _: &str) -> Result<(), StoreError> {
        Err(disk_full())
    }
    async fn pending_lanes(&self) -> Result<Vec<Lane>, StoreError> {
        Ok(vec![])
    }
    async fn list(&self, _: Option<Status>, _: usize) -> Result<Vec<Row>, StoreError> {
        Ok(vec![])
    }
    async fn replay(&self, _: &[RowId]) -> Result<usize, StoreError> {
        Err(disk_full())
    }
    async fn replay_dead(&self) -> Result<usize, StoreError> {
        Err(disk_full())
    }
    async fn depth_by_sink(&self) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(vec![])
    }
    async fn check_writable(&self) -> Result<(), StoreError> {
        Err(StoreError::Busy("queue full".into()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_get_503_and_health_says_why() {
    let toml = "[sources.github]\nkind = \"github\"\nsecret = \"k\"\n[sinks.c]\nkind = \"stdout\"\n[[routes]]\nto = [\"c\"]\n";
    let served = Served::start(toml, Arc::new(DownStore), |s| s).await;
    let addr = &served.addr;
    let client = reqwest::Client::new();
    let body = fixture("github/push.1.json");
    let mut req = client
        .post(format!("http://{addr}/hooks/github"))
        .body(body.clone());
    for (k, v) in fixture_headers("github/push.1.json")
        .into_iter()
        .chain(signature_headers("github", "k", &body))
    {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let text = r.text().await.unwrap();
    assert!(text.contains("retry later"), "{text}");
    assert!(!text.contains("disk"), "internal detail leaked: {text}");

    let r = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    // a wrong signature is still a 401, before the store is asked
    let r = client
        .post(format!("http://{addr}/hooks/github"))
        .header("X-GitHub-Event", "push")
        .header("X-Hub-Signature-256", "sha256=00")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    served.stop().await;
}

/// The store's files deleted under the running service: within seconds
/// deliveries get 503 and `/healthz` fails, the log says why, and the
/// message queued before is still sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_store_is_noticed_and_refused() {
    use crate::standin::{Behaviour, Platform, StandIn};
    let standin = StandIn::start().await;
    // the first send is rate-limited for 2 s: the message is still queued
    // when the files go
    standin.script(
        Platform::Slack,
        [Behaviour::Status429 {
            retry_after_secs: 2,
        }],
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hb.db");
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\npath = \"{}\"\n[delivery]\nmin_interval = \"0s\"\n\
             [sources.github]\nkind = \"github\"\nsecret = \"k\"\n\
             [sinks.chat]\nkind = \"slack\"\nwebhook_url = \"{}\"\n\
             [[routes]]\nto = [\"chat\"]\n",
            db.display(),
            standin.slack_webhook_url("T0K3N")
        ),
    )
    .unwrap();
    let svc = Proc::serve(&config, &[], &[]);
    let (h, body) = numbered_issue("k", 1);
    assert_eq!(svc.post("github", &h, body).await.status, 202);
    standin.wait_for(1).await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let client = reqwest::Client::new();
    let healthz = format!("{}/healthz", svc.addr);
    let mut n = 1;
    eventually(5, "a delivery refused 503 and /healthz failing", || {
        n += 1;
        let (h, body) = numbered_issue("k", n);
        let (svc, client, healthz) = (&svc, &client, &healthz);
        async move {
            let delivered = svc.post("github", &h, body).await;
            let health = client.get(healthz.as_str()).send().await.unwrap();
            delivered.status == 503 && health.status().as_u16() == 503
        }
    })
    .await;
    let stderr = svc.stderr();
    assert!(
        stderr.contains("the store's files changed under the running service"),
        "{stderr}"
    );
    assert!(stderr.contains("was removed"), "{stderr}");
    // the queued message goes out all the same
    let got = standin.wait_for(2).await;
    assert!(got[1].body.contains("issue-0001"), "{:?}", got[1]);
}

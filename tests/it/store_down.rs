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

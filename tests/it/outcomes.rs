//! A lane worker and a store that refuses to record: a message the platform
//! took is not posted again while its outcome waits to be stored, nor after
//! a stop meanwhile (the outcome journal), and a worker holding its head
//! for a long wait still sees a replayed row.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use hookbridge::outbox::store::SqliteStore;
use hookbridge::outbox::{
    Accepted, DeliveryMeta, Lane, NewMessage, Outbox, Row, RowId, Status, Store, StoreError,
    Verdict,
};
use hookbridge::pipeline::Pipeline;
use hookbridge::service::build_sinks;

use crate::common::*;
use crate::standin::{Behaviour, Platform, StandIn};

/// A real store whose `mark_*` calls fail (as a full disk would) until each
/// has been refused `failures` times.
struct RefusingStore {
    inner: SqliteStore,
    failures: usize,
    head_calls: AtomicUsize,
    sent_calls: AtomicUsize,
    retry_calls: AtomicUsize,
    dead_calls: AtomicUsize,
}

impl RefusingStore {
    fn refuse(&self, calls: &AtomicUsize) -> Result<(), StoreError> {
        if calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            Err(disk_full())
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for RefusingStore {
    async fn accept(&self, m: DeliveryMeta, v: Vec<NewMessage>) -> Result<Accepted, StoreError> {
        self.inner.accept(m, v).await
    }
    async fn head(&self, lane: &Lane) -> Result<Option<Row>, StoreError> {
        let row = self.inner.head(lane).await;
        self.head_calls.fetch_add(1, Ordering::SeqCst);
        row
    }
    async fn mark_sent(&self, id: RowId) -> Result<(), StoreError> {
        self.refuse(&self.sent_calls)?;
        self.inner.mark_sent(id).await
    }
    async fn mark_retry(&self, id: RowId, at: i64, error: &str) -> Result<(), StoreError> {
        self.refuse(&self.retry_calls)?;
        self.inner.mark_retry(id, at, error).await
    }
    async fn mark_dead(&self, id: RowId, error: &str) -> Result<(), StoreError> {
        self.refuse(&self.dead_calls)?;
        self.inner.mark_dead(id, error).await
    }
    async fn pending_lanes(&self) -> Result<Vec<Lane>, StoreError> {
        self.inner.pending_lanes().await
    }
    async fn list(&self, status: Option<Status>, limit: usize) -> Result<Vec<Row>, StoreError> {
        self.inner.list(status, limit).await
    }
    async fn replay(&self, ids: &[RowId]) -> Result<usize, StoreError> {
        self.inner.replay(ids).await
    }
    async fn replay_dead(&self) -> Result<usize, StoreError> {
        self.inner.replay_dead().await
    }
    async fn depth_by_sink(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.inner.depth_by_sink().await
    }
    async fn check_writable(&self) -> Result<(), StoreError> {
        self.inner.check_writable().await
    }
    async fn hold_outcome(&self, id: RowId, verdict: &Verdict) -> Result<(), StoreError> {
        self.inner.hold_outcome(id, verdict).await
    }
    async fn release_outcome(&self, id: RowId) -> Result<(), StoreError> {
        self.inner.release_outcome(id).await
    }
}

struct Setup {
    store: Arc<RefusingStore>,
    pipeline: Pipeline,
    db: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// A store refusing `failures` times and `messages` queued in one Slack
/// lane that posts to `standin`; no workers yet.
async fn setup(standin: &StandIn, failures: usize, messages: &[&str]) -> (Setup, Vec<RowId>) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[delivery]\ntimeout = \"2s\"\nmin_interval = \"0s\"\n\
             [sources.github]\nkind = \"github\"\nsecret = \"k\"\n\
             [sinks.slack]\nkind = \"slack\"\ntoken = \"xoxb-test\"\napi_base = \"{}\"\n\
             [[routes]]\nto = [\"slack:#eng\"]\n",
            standin.slack_api_base()
        ),
    )
    .unwrap();
    let pipeline = Pipeline::load(&config).unwrap();
    let store = Arc::new(RefusingStore {
        inner: SqliteStore::open(&dir.path().join("hb.db")).unwrap(),
        failures,
        head_calls: AtomicUsize::new(0),
        sent_calls: AtomicUsize::new(0),
        retry_calls: AtomicUsize::new(0),
        dead_calls: AtomicUsize::new(0),
    });
    let lane = Lane {
        sink: "slack".into(),
        channel: "#eng".into(),
    };
    let meta = DeliveryMeta {
        source: "github".into(),
        delivery_id: "d-1".into(),
        kind: "push".into(),
        repo: "acme/app".into(),
    };
    let queued = messages
        .iter()
        .map(|m| NewMessage {
            lane: lane.clone(),
            message: m.to_string(),
        })
        .collect();
    let Accepted::Stored(ids) = store.accept(meta, queued).await.unwrap() else {
        panic!("first delivery taken as a duplicate");
    };
    let setup = Setup {
        store,
        pipeline,
        db: dir.path().join("hb.db"),
        _dir: dir,
    };
    (setup, ids)
}

impl Setup {
    /// Starts the workers: the lane's pending rows begin to go out.
    async fn start(&self) -> Arc<Outbox> {
        Outbox::start(
            self.store.clone(),
            build_sinks(&self.pipeline.config).unwrap(),
            self.pipeline.config.delivery.clone(),
            self.pipeline.renderer.clone(),
        )
        .await
    }
}

async fn status_of(store: &RefusingStore, id: RowId) -> Option<Status> {
    let rows = store.inner.list(None, 100).await.unwrap();
    rows.iter().find(|r| r.id == id).map(|r| r.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_is_not_posted_again_while_the_store_refuses_to_record_it() {
    let standin = StandIn::start().await;
    let (s, ids) = setup(&standin, 2, &["hello once"]).await;
    let outbox = s.start().await;
    eventually(15, "row recorded as sent", || async {
        status_of(&s.store, ids[0]).await == Some(Status::Sent)
    })
    .await;
    assert_eq!(s.store.sent_calls.load(Ordering::SeqCst), 3);
    let received = standin.received();
    assert_eq!(received.len(), 1, "posted more than once: {received:?}");
    assert!(received[0].body.contains("hello once"));
    outbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_not_posted_again_while_its_death_waits_to_be_recorded() {
    let standin = StandIn::start().await;
    standin.script(
        Platform::Slack,
        [Behaviour::SlackError("channel_not_found")],
    );
    let (s, ids) = setup(&standin, 2, &["to nowhere"]).await;
    let outbox = s.start().await;
    eventually(15, "row recorded as dead", || async {
        status_of(&s.store, ids[0]).await == Some(Status::Dead)
    })
    .await;
    assert_eq!(s.store.dead_calls.load(Ordering::SeqCst), 3);
    assert_eq!(standin.received().len(), 1);
    outbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lane_holding_a_far_retry_still_sends_a_replayed_older_row() {
    let standin = StandIn::start().await;
    let (s, ids) = setup(&standin, 0, &["replayed", "later"]).await;
    // The first row is dead; the second waits for an hour (a long
    // Retry-After, or a wall clock that was stepped back).
    s.store.inner.mark_dead(ids[0], "gone").await.unwrap();
    let in_an_hour = hookbridge::outbox::worker::now_ms() + 3_600_000;
    s.store
        .inner
        .mark_retry(ids[1], in_an_hour, "rate limited")
        .await
        .unwrap();
    let outbox = s.start().await;
    // The worker has read its head (the far retry) and holds it.
    eventually(5, "worker read its head", || async {
        s.store.head_calls.load(Ordering::SeqCst) >= 1
    })
    .await;
    assert_eq!(s.store.inner.replay(&[ids[0]]).await.unwrap(), 1);
    eventually(10, "replayed row sent", || async {
        status_of(&s.store, ids[0]).await == Some(Status::Sent)
    })
    .await;
    let received = standin.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert!(received[0].body.contains("replayed"));
    assert_eq!(status_of(&s.store, ids[1]).await, Some(Status::Pending));
    tokio::time::timeout(Duration::from_secs(10), outbox.shutdown())
        .await
        .expect("workers stop while holding a long wait");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wall_clock_stepped_back_does_not_hold_new_messages() {
    let standin = StandIn::start().await;
    let (s, ids) = setup(&standin, 0, &["queued before the step"]).await;
    // Queued, never tried, and due an hour from "now": what a row looks
    // like after the clock was stepped back an hour.
    let raw = rusqlite::Connection::open(&s.db).unwrap();
    let in_an_hour = hookbridge::outbox::worker::now_ms() + 3_600_000;
    raw.execute(
        "UPDATE outbox SET next_attempt_at = ?1 WHERE id = ?2",
        rusqlite::params![in_an_hour, ids[0]],
    )
    .unwrap();
    let outbox = s.start().await;
    eventually(10, "sent without waiting out the step", || async {
        status_of(&s.store, ids[0]).await == Some(Status::Sent)
    })
    .await;
    assert_eq!(standin.received().len(), 1);
    outbox.shutdown().await;
}

/// The store refuses every outcome; the service stops (SIGTERM) with the
/// "sent" in memory. The outcome journal keeps it: the next start applies
/// it before any worker runs, and the message is not posted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_the_store_refused_is_not_lost_to_a_stop() {
    let standin = StandIn::start().await;
    let (s, ids) = setup(&standin, usize::MAX, &["only once"]).await;
    let outbox = s.start().await;
    standin.wait_for(1).await;
    eventually(10, "the outcome refused", || async {
        s.store.sent_calls.load(Ordering::SeqCst) >= 1
    })
    .await;
    let stopping = std::time::Instant::now();
    outbox.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "a journaled outcome does not hold the stop: {:?}",
        stopping.elapsed()
    );
    assert_eq!(status_of(&s.store, ids[0]).await, Some(Status::Pending));
    drop(outbox);
    let Setup {
        store,
        pipeline,
        db,
        _dir,
    } = s;
    drop(store);
    // the restart
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&db).unwrap());
    let rows = store.list(None, 10).await.unwrap();
    assert_eq!(rows[0].status, Status::Sent, "{rows:?}");
    let outbox = Outbox::start(
        store.clone(),
        build_sinks(&pipeline.config).unwrap(),
        pipeline.config.delivery.clone(),
        pipeline.renderer.clone(),
    )
    .await;
    let received = standin.received();
    assert_eq!(received.len(), 1, "posted again: {received:?}");
    outbox.shutdown().await;
}

/// The real binary: the message's send ends while another process holds
/// the store's write lock (the store cannot record anything, as on a full
/// disk), then SIGTERM. After the restart the message is not posted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_the_store_cannot_record_posts_nothing_twice() {
    let standin = StandIn::start().await;
    // the send takes 2 s: time to take the lock while it is in flight
    standin.script(Platform::Slack, [Behaviour::Slow(Duration::from_secs(2))]);
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
    let mut svc = Proc::serve(&config, &[], &[]);
    let (h, body) = numbered_issue("k", 1);
    assert_eq!(svc.post("github", &h, body).await.status, 202);
    standin.wait_for(1).await;
    let lock = rusqlite::Connection::open(&db).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    eventually(20, "the outcome kept in the journal", || async {
        svc.stderr().contains("kept in the outcome journal")
    })
    .await;
    svc.signal("TERM");
    assert!(svc.wait_exit(20).success(), "{}", svc.stderr());
    drop(lock);

    let svc = Proc::serve(&config, &[], &[]);
    eventually(5, "the journal applied at start", || async {
        svc.stderr().contains("applied the send outcomes")
    })
    .await;
    // the lanes are scanned every 2 s: watch for 3 s that nothing is posted
    for _ in 0..150 {
        let received = standin.received();
        assert_eq!(received.len(), 1, "posted again: {received:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

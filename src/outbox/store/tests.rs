//! Tests of the SQLite store, on real files in a temporary directory.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll, Waker};

use rusqlite::{Connection, params};

use super::checkpoint::Thresholds;
use super::sqlite::{
    Clock, DEDUP_WINDOW_MS, MAX_BATCH, PRUNE_BATCH, PRUNE_CATCH_UP_MS, PRUNE_INTERVAL_MS,
    QUEUE_CAPACITY, SQL_DEPTH_BY_SINK, SQL_HEAD, SQL_LIST_STATUS, SQL_PENDING_LANES,
    SQL_PRUNE_DEDUP, SQL_PRUNE_SENT,
};
use super::*;

const T0: i64 = 1_800_000_000_000;

/// A clock the test moves by hand.
#[derive(Clone)]
struct FakeClock(Arc<AtomicI64>);

impl FakeClock {
    fn new() -> Self {
        FakeClock(Arc::new(AtomicI64::new(T0)))
    }
    fn set(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    fn clock(&self) -> Clock {
        let at = Arc::clone(&self.0);
        Arc::new(move || at.load(Ordering::SeqCst))
    }
}

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("hookbridge.db")
}

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(&db_path(dir)).unwrap()
}

fn meta(source: &str, delivery_id: &str) -> DeliveryMeta {
    DeliveryMeta {
        source: source.into(),
        delivery_id: delivery_id.into(),
        kind: "push".into(),
        repo: "acme/widgets".into(),
    }
}

fn lane(sink: &str, channel: &str) -> Lane {
    Lane {
        sink: sink.into(),
        channel: channel.into(),
    }
}

fn msg(sink: &str, channel: &str, message: &str) -> NewMessage {
    NewMessage {
        lane: lane(sink, channel),
        message: message.into(),
    }
}

fn stored(a: Accepted) -> Vec<RowId> {
    match a {
        Accepted::Stored(ids) => ids,
        Accepted::Duplicate => panic!("expected Stored, got Duplicate"),
    }
}

async fn row(store: &SqliteStore, id: RowId) -> Row {
    store
        .list(None, 10_000)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("row {id} not found"))
}

/// Polls a future once, so an `accept` puts its request on the queue.
fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[tokio::test]
async fn accept_then_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let ids = stored(
        store
            .accept(
                meta("github", "d-1"),
                vec![
                    msg("slack", "#a", "{\"n\":1}"),
                    msg("discord", "", "{\"n\":2}"),
                ],
            )
            .await
            .unwrap(),
    );
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1], "ids increase in the order given: {ids:?}");

    let again = store
        .accept(meta("github", "d-1"), vec![msg("slack", "#a", "{\"n\":3}")])
        .await
        .unwrap();
    assert_eq!(again, Accepted::Duplicate);
    // Same delivery id from another source is another delivery.
    let other = store.accept(meta("gitlab", "d-1"), vec![]).await.unwrap();
    assert_eq!(other, Accepted::Stored(vec![]));

    let rows = store.list(None, 100).await.unwrap();
    assert_eq!(rows.len(), 2, "the duplicate queued nothing");
    let first = rows.iter().find(|r| r.id == ids[0]).unwrap();
    assert_eq!(first.source, "github");
    assert_eq!(first.delivery_id, "d-1");
    assert_eq!(first.kind, "push");
    assert_eq!(first.repo, "acme/widgets");
    assert_eq!(first.lane, lane("slack", "#a"));
    assert_eq!(first.message, "{\"n\":1}");
    assert_eq!(first.status, Status::Pending);
    assert_eq!(first.attempts, 0);
    assert_eq!(first.last_error, None);
    assert_eq!(first.created_at, first.queued_at);
    assert_eq!(first.next_attempt_at, first.created_at);
}

#[tokio::test]
async fn duplicate_detected_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    stored(
        store
            .accept(meta("github", "d-1"), vec![msg("slack", "", "{}")])
            .await
            .unwrap(),
    );
    drop(store);

    let store = open(&dir);
    let again = store
        .accept(meta("github", "d-1"), vec![msg("slack", "", "{}")])
        .await
        .unwrap();
    assert_eq!(again, Accepted::Duplicate);
    assert_eq!(
        store.list(None, 10).await.unwrap().len(),
        1,
        "the row survived the reopen"
    );
}

#[tokio::test]
async fn dedup_keys_expire_after_seven_days_and_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let store = SqliteStore::open_at(&db_path(&dir), clock.clock()).unwrap();
    stored(store.accept(meta("github", "old"), vec![]).await.unwrap());

    clock.set(T0 + DEDUP_WINDOW_MS - 1);
    assert_eq!(
        store.accept(meta("github", "old"), vec![]).await.unwrap(),
        Accepted::Duplicate
    );

    // Just past the window: the pair is new again.
    clock.set(T0 + DEDUP_WINDOW_MS);
    stored(
        store
            .accept(meta("github", "old"), vec![msg("s", "", "{}")])
            .await
            .unwrap(),
    );

    // Another key, then far in the future: the next write prunes both old keys.
    stored(store.accept(meta("github", "other"), vec![]).await.unwrap());
    clock.set(T0 + 3 * DEDUP_WINDOW_MS);
    stored(store.accept(meta("github", "fresh"), vec![]).await.unwrap());

    let raw = Connection::open(db_path(&dir)).unwrap();
    let keys: Vec<String> = raw
        .prepare("SELECT delivery_id FROM dedup ORDER BY delivery_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(keys, vec!["fresh".to_string()]);
}

#[tokio::test]
async fn sent_rows_are_pruned_after_the_window_dead_and_pending_stay() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let store = SqliteStore::open_at(&db_path(&dir), clock.clock()).unwrap();
    let ids = stored(
        store
            .accept(
                meta("github", "a"),
                vec![msg("s", "", "{}"), msg("s", "", "{}"), msg("s", "", "{}")],
            )
            .await
            .unwrap(),
    );
    store.mark_sent(ids[0]).await.unwrap();
    store.mark_dead(ids[1], "gone").await.unwrap();
    // within the window nothing goes
    clock.set(T0 + DEDUP_WINDOW_MS - 1);
    stored(store.accept(meta("github", "b"), vec![]).await.unwrap());
    assert_eq!(store.list(None, 10).await.unwrap().len(), 3);
    // past it, the next write batch prunes the sent row only
    clock.set(T0 + 2 * DEDUP_WINDOW_MS);
    stored(store.accept(meta("github", "c"), vec![]).await.unwrap());
    let left: Vec<RowId> = store
        .list(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![ids[2], ids[1]]);
}

#[tokio::test]
async fn head_is_fifo_per_lane_across_mark_sent() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let a = lane("slack", "#a");
    let b = lane("slack", "#b");
    let mut lane_a = Vec::new();
    let mut lane_b = Vec::new();
    for i in 0..4 {
        let ids = stored(
            store
                .accept(
                    meta("github", &format!("d-{i}")),
                    vec![
                        msg("slack", "#a", &format!("a{i}")),
                        msg("slack", "#b", &format!("b{i}")),
                    ],
                )
                .await
                .unwrap(),
        );
        lane_a.push(ids[0]);
        lane_b.push(ids[1]);
    }

    // A retry scheduled far ahead does not let the next row jump the queue.
    store.mark_retry(lane_a[0], i64::MAX, "503").await.unwrap();
    for (i, id) in lane_a.iter().enumerate() {
        let head = store.head(&a).await.unwrap().unwrap();
        assert_eq!(head.id, *id);
        assert_eq!(head.message, format!("a{i}"));
        store.mark_sent(*id).await.unwrap();
    }
    assert!(store.head(&a).await.unwrap().is_none());

    // Lane b was untouched and is still in order.
    assert_eq!(store.head(&b).await.unwrap().unwrap().id, lane_b[0]);
    assert!(store.head(&lane("discord", "")).await.unwrap().is_none());

    let sent = row(&store, lane_a[0]).await;
    assert_eq!(sent.status, Status::Sent);
    assert_eq!(sent.attempts, 2, "one retry and one successful send");
}

#[tokio::test]
async fn retry_and_dead_bookkeeping() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let ids = stored(
        store
            .accept(meta("github", "d"), vec![msg("slack", "", "{}")])
            .await
            .unwrap(),
    );
    let id = ids[0];

    store.mark_retry(id, T0 + 1_000, "HTTP 502").await.unwrap();
    store.mark_retry(id, T0 + 5_000, "timeout").await.unwrap();
    let r = row(&store, id).await;
    assert_eq!(r.status, Status::Pending);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.next_attempt_at, T0 + 5_000);
    assert_eq!(r.last_error.as_deref(), Some("timeout"));

    store.mark_dead(id, "channel_not_found").await.unwrap();
    let r = row(&store, id).await;
    assert_eq!(r.status, Status::Dead);
    assert_eq!(r.attempts, 3);
    assert_eq!(r.last_error.as_deref(), Some("channel_not_found"));
    assert!(
        store.head(&lane("slack", "")).await.unwrap().is_none(),
        "dead rows leave the lane"
    );

    for result in [
        store.mark_sent(9_999).await,
        store.mark_retry(9_999, 0, "x").await,
        store.mark_dead(9_999, "x").await,
    ] {
        let err = result.unwrap_err();
        assert!(err.to_string().contains("9999"), "{err}");
    }
}

#[tokio::test]
async fn replay_and_replay_dead() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let store = SqliteStore::open_at(&db_path(&dir), clock.clock()).unwrap();
    let ids = stored(
        store
            .accept(
                meta("github", "d"),
                vec![
                    msg("s", "", "0"),
                    msg("s", "", "1"),
                    msg("s", "", "2"),
                    msg("s", "", "3"),
                ],
            )
            .await
            .unwrap(),
    );
    store.mark_dead(ids[0], "gone").await.unwrap();
    store.mark_dead(ids[1], "gone too").await.unwrap();
    store.mark_sent(ids[2]).await.unwrap();

    clock.set(T0 + 60_000);
    // Named twice and an unknown id: each real row counts once.
    let n = store.replay(&[ids[2], ids[2], 9_999]).await.unwrap();
    assert_eq!(n, 1);
    let r = row(&store, ids[2]).await;
    assert_eq!(r.status, Status::Pending);
    assert_eq!(r.attempts, 0);
    assert_eq!(r.queued_at, T0 + 60_000);
    assert_eq!(r.next_attempt_at, T0 + 60_000);
    assert_eq!(r.created_at, T0);

    clock.set(T0 + 120_000);
    assert_eq!(store.replay_dead().await.unwrap(), 2);
    for id in &ids[..2] {
        let r = row(&store, *id).await;
        assert_eq!(r.status, Status::Pending);
        assert_eq!(r.attempts, 0);
        assert_eq!(r.queued_at, T0 + 120_000);
        assert!(
            r.last_error.as_deref().unwrap().starts_with("gone"),
            "last error kept"
        );
    }
    assert_eq!(store.replay_dead().await.unwrap(), 0);
    assert_eq!(
        store.list(Some(Status::Pending), 10).await.unwrap().len(),
        4
    );
}

#[tokio::test]
async fn list_filters_limits_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut all = Vec::new();
    for i in 0..6 {
        all.extend(stored(
            store
                .accept(meta("github", &format!("d{i}")), vec![msg("s", "", "{}")])
                .await
                .unwrap(),
        ));
    }
    store.mark_sent(all[0]).await.unwrap();
    store.mark_sent(all[3]).await.unwrap();
    store.mark_dead(all[4], "no").await.unwrap();

    let ids = |rows: Vec<Row>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list(None, 100).await.unwrap()),
        all.iter().rev().copied().collect::<Vec<_>>()
    );
    assert_eq!(
        ids(store.list(None, 2).await.unwrap()),
        vec![all[5], all[4]]
    );
    assert_eq!(
        ids(store.list(Some(Status::Sent), 100).await.unwrap()),
        vec![all[3], all[0]]
    );
    assert_eq!(
        ids(store.list(Some(Status::Dead), 100).await.unwrap()),
        vec![all[4]]
    );
    assert_eq!(
        ids(store.list(Some(Status::Pending), 2).await.unwrap()),
        vec![all[5], all[2]]
    );
    assert!(store.list(None, 0).await.unwrap().is_empty());
}

#[tokio::test]
async fn depth_by_sink_and_pending_lanes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    assert!(store.depth_by_sink().await.unwrap().is_empty());
    assert!(store.pending_lanes().await.unwrap().is_empty());

    let ids = stored(
        store
            .accept(
                meta("github", "d"),
                vec![
                    msg("slack", "#b", "1"),
                    msg("slack", "#a", "2"),
                    msg("slack", "#a", "3"),
                    msg("discord", "", "4"),
                    msg("stdout", "", "5"),
                ],
            )
            .await
            .unwrap(),
    );
    store.mark_sent(ids[4]).await.unwrap();

    assert_eq!(
        store.depth_by_sink().await.unwrap(),
        vec![("discord".to_string(), 1), ("slack".to_string(), 3)]
    );
    assert_eq!(
        store.pending_lanes().await.unwrap(),
        vec![
            lane("discord", ""),
            lane("slack", "#a"),
            lane("slack", "#b")
        ]
    );

    store.mark_dead(ids[0], "x").await.unwrap();
    assert_eq!(
        store.pending_lanes().await.unwrap(),
        vec![lane("discord", ""), lane("slack", "#a")]
    );
    assert_eq!(
        store.depth_by_sink().await.unwrap(),
        vec![("discord".to_string(), 1), ("slack".to_string(), 2)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_handles_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let service = open(&dir);
    let ids = stored(
        service
            .accept(
                meta("github", "d"),
                vec![msg("slack", "#a", "1"), msg("slack", "#a", "2")],
            )
            .await
            .unwrap(),
    );
    service.mark_dead(ids[0], "invalid_auth").await.unwrap();

    // The CLI opens the same file while the service runs.
    let cli = open(&dir);
    let rows = cli.list(None, 10).await.unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[1], ids[0]]
    );
    assert_eq!(
        cli.list(Some(Status::Dead), 10).await.unwrap()[0]
            .last_error
            .as_deref(),
        Some("invalid_auth")
    );
    assert_eq!(cli.replay_dead().await.unwrap(), 1);
    cli.check_writable().await.unwrap();

    // The service sees the replayed row at the head of its lane.
    let head = service.head(&lane("slack", "#a")).await.unwrap().unwrap();
    assert_eq!(head.id, ids[0]);
    assert_eq!(head.attempts, 0);
    // Dedup is shared too.
    assert_eq!(
        cli.accept(meta("github", "d"), vec![]).await.unwrap(),
        Accepted::Duplicate
    );
    // And the service keeps writing after the CLI is gone.
    drop(cli);
    service.mark_sent(ids[0]).await.unwrap();
    assert_eq!(
        service
            .head(&lane("slack", "#a"))
            .await
            .unwrap()
            .unwrap()
            .id,
        ids[1]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_accepts_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let before = store.commit_count();
    const ACCEPTS: u64 = 200;

    let tasks: Vec<_> = (0..ACCEPTS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .accept(
                        meta("github", &format!("d-{i}")),
                        vec![msg("slack", "#a", &i.to_string())],
                    )
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(stored(t.await.unwrap().unwrap()));
    }

    let commits = store.commit_count() - before;
    assert!(commits >= 1);
    assert!(
        commits < ACCEPTS / 2,
        "{commits} commits for {ACCEPTS} accepts"
    );

    let mut bodies: Vec<u64> = store
        .list(Some(Status::Pending), 1_000)
        .await
        .unwrap()
        .iter()
        .map(|r| r.message.parse().unwrap())
        .collect();
    bodies.sort_unstable();
    assert_eq!(
        bodies,
        (0..ACCEPTS).collect::<Vec<_>>(),
        "every accepted row is stored once"
    );
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u64, ACCEPTS);
}

#[tokio::test(flavor = "multi_thread")]
async fn dedup_within_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let before = store.commit_count();

    let paused = store.pause_writer();
    let mut first = store.accept(meta("github", "same"), vec![msg("s", "", "1")]);
    let mut second = store.accept(meta("github", "same"), vec![msg("s", "", "2")]);
    assert!(poll_once(first.as_mut()).is_pending());
    assert!(poll_once(second.as_mut()).is_pending());
    drop(paused);

    let (a, b) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(store.commit_count() - before, 1, "both in one transaction");
    assert!(
        matches!(a, Accepted::Stored(ref ids) if ids.len() == 1),
        "{a:?}"
    );
    assert_eq!(b, Accepted::Duplicate);
    assert_eq!(store.list(None, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_request_does_not_undo_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let before = store.commit_count();

    let paused = store.pause_writer();
    let mut good = store.accept(meta("github", "ok"), vec![msg("s", "", "1")]);
    let mut bad = store.mark_sent(9_999);
    let mut also_good = store.accept(meta("github", "ok2"), vec![msg("s", "", "2")]);
    assert!(poll_once(good.as_mut()).is_pending());
    assert!(poll_once(bad.as_mut()).is_pending());
    assert!(poll_once(also_good.as_mut()).is_pending());
    drop(paused);

    let good = good.await.unwrap();
    assert!(bad.await.is_err());
    let also_good = also_good.await.unwrap();
    assert_eq!(store.commit_count() - before, 1);
    let mut expected = stored(good);
    expected.extend(stored(also_good));
    let mut found: Vec<RowId> = store
        .list(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    found.sort_unstable();
    assert_eq!(found, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_failing_halfway_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // Another connection plants a failure for the second message of a
    // delivery, after its dedup key and first row are written.
    Connection::open(db_path(&dir))
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER boom BEFORE INSERT ON outbox WHEN NEW.message = 'boom'
             BEGIN SELECT RAISE(ABORT, 'planted failure'); END;",
        )
        .unwrap();
    let before = store.commit_count();

    let paused = store.pause_writer();
    let mut good = store.accept(meta("github", "ok"), vec![msg("s", "", "1")]);
    let mut half = store.accept(
        meta("github", "half"),
        vec![msg("s", "", "first"), msg("s", "", "boom")],
    );
    let mut also_good = store.accept(meta("github", "ok2"), vec![msg("s", "", "2")]);
    assert!(poll_once(good.as_mut()).is_pending());
    assert!(poll_once(half.as_mut()).is_pending());
    assert!(poll_once(also_good.as_mut()).is_pending());
    drop(paused);

    let good = good.await.unwrap();
    let failed = half.await;
    assert!(
        matches!(&failed, Err(e) if e.to_string().contains("planted failure")),
        "{failed:?}"
    );
    let also_good = also_good.await.unwrap();
    assert_eq!(store.commit_count() - before, 1, "one commit for the batch");
    let rows = store.list(None, 10).await.unwrap();
    let mut texts: Vec<&str> = rows.iter().map(|r| r.message.as_str()).collect();
    texts.sort_unstable();
    assert_eq!(texts, ["1", "2"], "no row of the failed delivery");
    assert_eq!(stored(good).len() + stored(also_good).len(), 2);

    // Its dedup key was not kept either: the sender's retry is taken.
    Connection::open(db_path(&dir))
        .unwrap()
        .execute_batch("DROP TRIGGER boom;")
        .unwrap();
    let retried = store
        .accept(
            meta("github", "half"),
            vec![msg("s", "", "first"), msg("s", "", "second")],
        )
        .await
        .unwrap();
    assert_eq!(stored(retried).len(), 2);
}

// Holding the writer's lock across the read below is the point: it blocks
// only the writer thread, and shows reads do not need it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread")]
async fn full_queue_answers_busy_then_drains_in_capped_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let before = store.commit_count();

    let paused = store.pause_writer();
    let mut waiting = Vec::new();
    let busy = loop {
        let mut f = store.accept(meta("github", &format!("d-{}", waiting.len())), vec![]);
        match poll_once(f.as_mut()) {
            Poll::Pending => waiting.push(f),
            Poll::Ready(result) => break result,
        }
        assert!(
            waiting.len() <= QUEUE_CAPACITY + 1,
            "the queue never filled"
        );
    };
    assert!(matches!(busy, Err(StoreError::Busy(_))), "{busy:?}");
    // The writer may already hold one request while it waits.
    assert!(
        waiting.len() == QUEUE_CAPACITY || waiting.len() == QUEUE_CAPACITY + 1,
        "{} queued",
        waiting.len()
    );
    // Reads are not held up by a paused writer on a file store.
    assert!(store.list(None, 1).await.unwrap().is_empty());
    drop(paused);

    let total = waiting.len() as u64;
    for f in waiting {
        stored(f.await.unwrap());
    }
    let commits = store.commit_count() - before;
    assert!(
        commits >= total.div_ceil(MAX_BATCH as u64),
        "{commits} commits: batches over the cap"
    );
    assert!(
        commits <= total.div_ceil(MAX_BATCH as u64) + 2,
        "{commits} commits for {total} queued"
    );
}

#[tokio::test]
async fn schema_too_new_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    Connection::open(db_path(&dir))
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();

    match SqliteStore::open(&db_path(&dir)) {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!(found, 99);
            assert_eq!(known, 4);
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("a newer schema was opened"),
    }
    // Nothing was changed by the refusal.
    assert_eq!(pragma::<i64>(&db_path(&dir), "user_version"), 99);
}

#[tokio::test]
async fn fresh_file_gets_current_schema_small_pages_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(&dir);
    let path = db_path(&dir);
    assert_eq!(pragma::<i64>(&path, "user_version"), 4);
    assert_eq!(pragma::<i64>(&path, "page_size"), 4096);
    assert_eq!(pragma::<String>(&path, "journal_mode"), "wal");
}

/// A pragma's value, read through a connection of its own.
fn pragma<T: rusqlite::types::FromSql>(path: &Path, name: &str) -> T {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, name, |r| r.get(0))
        .unwrap()
}

/// A file as version 1 left it, with 8 KiB pages: rows hold the platform
/// request body. `bodies` are (sink, status, body).
fn write_version_1_file(path: &Path, bodies: &[(&str, &str, &str)]) {
    let raw = Connection::open(path).unwrap();
    raw.pragma_update(None, "page_size", 8192).unwrap();
    raw.pragma_update(None, "journal_mode", "WAL").unwrap();
    raw.execute_batch(super::schema::V1).unwrap();
    raw.pragma_update(None, "user_version", 1).unwrap();
    for (i, (sink, status, body)) in bodies.iter().enumerate() {
        raw.execute(
            "INSERT INTO outbox (source, delivery_id, kind, repo, sink, channel, body, status,
                                 attempts, next_attempt_at, created_at, queued_at)
             VALUES ('github', ?1, 'push', 'a/b', ?2, '', ?3, ?4, 0, 0, 0, 0)",
            rusqlite::params![format!("d{i}"), sink, body, status],
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn version_1_rows_keep_their_text_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    write_version_1_file(
        &path,
        &[
            (
                "slack",
                "pending",
                r##"{"blocks":[],"channel":"#a","text":"*pushed* <x|y>","unfurl_links":false}"##,
            ),
            (
                "discord",
                "pending",
                r#"{"allowed_mentions":{"parse":[]},"content":"**merged**"}"#,
            ),
            ("console", "sent", r#"{"text":"plain\nlines"}"#),
            ("slack", "dead", r#"{"text":"gave up","blocks":[]}"#),
            // Not what version 1 wrote; kept as they are.
            ("slack", "dead", "not json {"),
            ("slack", "dead", r#"["an","array"]"#),
            ("slack", "dead", r#"{"neither":1}"#),
        ],
    );
    let store = open(&dir);
    let mut rows = store.list(None, 10).await.unwrap();
    rows.sort_by_key(|r| r.id);
    let texts: Vec<&str> = rows.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(
        texts,
        [
            "*pushed* <x|y>",
            "**merged**",
            "plain\nlines",
            "gave up",
            "not json {",
            r#"["an","array"]"#,
            r#"{"neither":1}"#
        ]
    );
    let statuses: Vec<Status> = rows.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses[..4],
        [Status::Pending, Status::Pending, Status::Sent, Status::Dead]
    );
    // The pending row of version 1 is still the head of its lane.
    let head = store.head(&lane("discord", "")).await.unwrap().unwrap();
    assert_eq!(head.message, "**merged**");
    // The rewrite of every row does not stay behind as a large WAL.
    let wal = std::fs::metadata(dir.path().join("hookbridge.db-wal")).map_or(0, |m| m.len());
    assert!(wal < 64 * 1024, "WAL of {wal} bytes after the upgrade");
    drop(store);
    assert_eq!(pragma::<i64>(&path, "user_version"), 4);
    // An upgraded file keeps its page size.
    assert_eq!(pragma::<i64>(&path, "page_size"), 8192);
}

#[tokio::test]
async fn only_the_service_upgrades_an_older_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    write_version_1_file(&path, &[("slack", "pending", r#"{"text":"hi"}"#)]);
    // The command-line tools may run beside an older service: they refuse.
    match SqliteStore::open_without_upgrade(&path) {
        Err(e @ StoreError::SchemaTooOld { found: 1, known: 4 }) => {
            let msg = e.to_string();
            assert!(msg.contains("hookbridge serve"), "{msg}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("an older schema was opened without upgrading"),
    }
    assert_eq!(
        pragma::<i64>(&path, "user_version"),
        1,
        "the refusal changed nothing"
    );
    // The service upgrades it; after that the tools open it.
    drop(SqliteStore::open(&path).unwrap());
    assert_eq!(pragma::<i64>(&path, "user_version"), 4);
    let store = SqliteStore::open_without_upgrade(&path).unwrap();
    assert_eq!(store.list(None, 10).await.unwrap()[0].message, "hi");
    // A new file is simply created.
    let fresh = dir.path().join("fresh.db");
    drop(SqliteStore::open_without_upgrade(&fresh).unwrap());
    assert_eq!(pragma::<i64>(&fresh, "user_version"), 4);
}

/// Thresholds small enough to cross many times in a test.
const SMALL_CHECKPOINTS: Thresholds = Thresholds {
    background: 16,
    rewind: 64,
    remainder: 8,
    min_interval: std::time::Duration::ZERO,
};

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_keep_the_wal_bounded_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with_checkpoints(&db_path(&dir), SMALL_CHECKPOINTS).unwrap();
    let wal = dir.path().join("hookbridge.db-wal");
    let text = "x".repeat(1000);
    let mut largest_wal = 0;
    // One commit each: without checkpoints the WAL would take every page
    // of every commit, some 3,000 frames.
    for i in 0..600 {
        store
            .accept(meta("github", &format!("d{i}")), vec![msg("s", "", &text)])
            .await
            .unwrap();
        largest_wal = largest_wal.max(std::fs::metadata(&wal).unwrap().len());
    }
    // Bounded: the background passes keep it at about 100-130 frames on
    // an idle machine; when they are starved of CPU the writer's own
    // fallback at 4x `rewind` (256 frames, plus the commit in hand) still
    // holds it. Without checkpoints it would take some 3,000 frames.
    let frame = 4096 + 24;
    assert!(
        largest_wal < 300 * frame,
        "the WAL grew to {} frames",
        largest_wal / frame
    );
    drop(store);
    let store = open(&dir);
    assert_eq!(store.list(None, 1000).await.unwrap().len(), 600);
    assert!(
        std::fs::metadata(db_path(&dir)).unwrap().len() > 600 * 1000,
        "the rows are in the database file"
    );
}

fn open_error(path: &Path) -> String {
    match SqliteStore::open(path) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a store at {}", path.display()),
    }
}

#[tokio::test]
async fn unwritable_place_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();

    // Parent is a regular file.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = open_error(&file.join("hookbridge.db"));
    assert!(
        err.contains("cannot open store") && err.contains("not-a-dir"),
        "{err}"
    );

    // Parent does not exist.
    let err = open_error(&dir.path().join("missing").join("hookbridge.db"));
    assert!(
        err.contains("missing") && err.contains("directory"),
        "{err}"
    );

    // Path is a directory.
    let err = open_error(dir.path());
    assert!(err.contains("cannot open store"), "{err}");

    // Not a database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'z'; 4096]).unwrap();
    let err = open_error(&junk);
    assert!(
        err.contains("junk.db") && err.contains("not a SQLite database"),
        "{err}"
    );

    // Read-only directory and file (only meaningful without root's override).
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    drop(SqliteStore::open(&ro.join("hookbridge.db")).unwrap());
    std::fs::set_permissions(
        ro.join("hookbridge.db"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let privileged = std::fs::write(ro.join("probe"), b"x").is_ok();
    if !privileged {
        let err = open_error(&ro.join("hookbridge.db"));
        assert!(err.contains("cannot open store"), "{err}");
        let err = open_error(&ro.join("other.db"));
        assert!(err.contains("cannot open store"), "{err}");
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test]
async fn check_writable_commits_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let before = store.commit_count();
    store.check_writable().await.unwrap();
    assert_eq!(store.commit_count(), before + 1);
    let raw = Connection::open(db_path(&dir)).unwrap();
    let n: i64 = raw
        .query_row(
            "SELECT COUNT(*) FROM meta WHERE key = 'write_checked_at'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_store_behaves_the_same() {
    let store = SqliteStore::open_memory().unwrap();
    let ids = stored(
        store
            .accept(
                meta("hf", "1"),
                vec![msg("slack", "", "a"), msg("slack", "", "b")],
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        store.accept(meta("hf", "1"), vec![]).await.unwrap(),
        Accepted::Duplicate
    );
    assert_eq!(
        store.head(&lane("slack", "")).await.unwrap().unwrap().id,
        ids[0]
    );
    store.mark_sent(ids[0]).await.unwrap();
    assert_eq!(
        store.head(&lane("slack", "")).await.unwrap().unwrap().id,
        ids[1]
    );
    store.mark_dead(ids[1], "x").await.unwrap();
    assert_eq!(store.replay_dead().await.unwrap(), 1);
    assert_eq!(
        store.depth_by_sink().await.unwrap(),
        vec![("slack".to_string(), 1)]
    );
    store.check_writable().await.unwrap();

    // Group commit works in memory too.
    let before = store.commit_count();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .accept(meta("hf", &format!("m{i}")), vec![msg("s", "", "x")])
                    .await
            })
        })
        .collect();
    for t in tasks {
        stored(t.await.unwrap().unwrap());
    }
    assert!(store.commit_count() - before <= 100);
    assert_eq!(store.list(None, 1_000).await.unwrap().len(), 102);

    // Separate memory stores do not share data.
    let other = SqliteStore::open_memory().unwrap();
    assert!(other.list(None, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_last_handle_closes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let clone = store.clone();
    let ids = stored(
        clone
            .accept(meta("github", "d"), vec![msg("s", "", "1")])
            .await
            .unwrap(),
    );
    drop(store);
    // A clone keeps it open and working.
    clone.mark_sent(ids[0]).await.unwrap();
    let wal = dir.path().join("hookbridge.db-wal");
    assert!(wal.exists());
    drop(clone);
    // The last connection to close checkpoints and removes the WAL: both
    // the writer thread's and the reader's connections are gone.
    assert!(
        !wal.exists(),
        "the WAL is still there: a connection is open"
    );
    let store = open(&dir);
    assert_eq!(store.list(Some(Status::Sent), 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn queries_use_the_indexes() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(&dir));
    let raw = Connection::open(db_path(&dir)).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = raw.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        stmt.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
            .join("; ")
    };
    let head = plan(SQL_HEAD);
    assert!(
        head.contains("outbox_pending_lane") && !head.contains("TEMP B-TREE"),
        "{head}"
    );
    let depth = plan(SQL_DEPTH_BY_SINK);
    assert!(depth.contains("outbox_pending_lane"), "{depth}");
    let lanes = plan(SQL_PENDING_LANES);
    assert!(lanes.contains("outbox_pending_lane"), "{lanes}");
    let by_status = plan(SQL_LIST_STATUS);
    // newest first straight off the table: no sort
    assert!(!by_status.contains("TEMP B-TREE"), "{by_status}");
    let prune = plan(SQL_PRUNE_DEDUP);
    assert!(prune.contains("dedup_seen_at"), "{prune}");
    // sent rows: a range of ids, not the whole table
    let prune = plan(SQL_PRUNE_SENT);
    assert!(
        prune.contains("SEARCH outbox USING INTEGER PRIMARY KEY (rowid<?)"),
        "{prune}"
    );
}

#[test]
fn a_sqlite_error_is_said_once_in_an_error_chain() {
    let e = StoreError::from(rusqlite::Error::InvalidQuery);
    let shown = format!("{:#}", anyhow::Error::from(e).context("replay"));
    let said = rusqlite::Error::InvalidQuery.to_string();
    assert_eq!(shown.matches(&said).count(), 1, "{shown}");
}

#[tokio::test]
async fn a_backlog_of_old_keys_is_pruned_a_bounded_batch_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let store = SqliteStore::open_at(&db_path(&dir), clock.clock()).unwrap();
    // A first write: the first prune pass runs (nothing is old yet). Its
    // key is a little newer than the backlog, so it goes last.
    clock.set(T0 + 1);
    stored(store.accept(meta("github", "first"), vec![]).await.unwrap());
    let backlog = 2 * PRUNE_BATCH + PRUNE_BATCH / 2;
    let mut raw = Connection::open(db_path(&dir)).unwrap();
    let tx = raw.transaction().unwrap();
    for i in 0..backlog {
        tx.execute(
            "INSERT INTO dedup (source, delivery_id, seen_at) VALUES ('github', ?1, ?2)",
            params![format!("old-{i}"), T0],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let old_keys = |raw: &Connection| -> usize {
        raw.query_row(
            "SELECT count(*) FROM dedup WHERE delivery_id LIKE 'old-%'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap() as usize
    };

    // Past the window: one pass takes one batch, no more.
    let mut now = T0 + DEDUP_WINDOW_MS + PRUNE_INTERVAL_MS;
    clock.set(now);
    stored(store.accept(meta("github", "a"), vec![]).await.unwrap());
    assert_eq!(old_keys(&raw), backlog - PRUNE_BATCH);
    // While a pass finds a full batch, the next one comes soon after.
    now += PRUNE_CATCH_UP_MS;
    clock.set(now);
    stored(store.accept(meta("github", "b"), vec![]).await.unwrap());
    assert_eq!(old_keys(&raw), backlog - 2 * PRUNE_BATCH);
    now += PRUNE_CATCH_UP_MS;
    clock.set(now);
    stored(store.accept(meta("github", "c"), vec![]).await.unwrap());
    assert_eq!(old_keys(&raw), 0);

    // Caught up: the next pass waits the whole interval again...
    insert_key(&mut raw, "late", T0);
    now += PRUNE_CATCH_UP_MS;
    clock.set(now);
    stored(store.accept(meta("github", "d"), vec![]).await.unwrap());
    assert_eq!(late_keys(&raw), 1);
    // ...unless the wall clock was stepped back: then it runs at once.
    clock.set(now - 10_000);
    stored(store.accept(meta("github", "e"), vec![]).await.unwrap());
    assert_eq!(late_keys(&raw), 0);
}

fn insert_key(raw: &mut Connection, id: &str, at: i64) {
    raw.execute(
        "INSERT INTO dedup (source, delivery_id, seen_at) VALUES ('github', ?1, ?2)",
        params![id, at],
    )
    .unwrap();
}

fn late_keys(raw: &Connection) -> usize {
    raw.query_row(
        "SELECT count(*) FROM dedup WHERE delivery_id = 'late'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as usize
}

#[tokio::test]
async fn ids_keep_growing_when_every_row_is_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let store = SqliteStore::open_at(&db_path(&dir), clock.clock()).unwrap();
    let ids = stored(
        store
            .accept(
                meta("github", "a"),
                vec![msg("s", "", "{}"), msg("s", "", "{}")],
            )
            .await
            .unwrap(),
    );
    for id in &ids {
        store.mark_sent(*id).await.unwrap();
    }
    // Both old: the pass keeps the newest row, so its id is not reused...
    clock.set(T0 + 2 * DEDUP_WINDOW_MS);
    stored(store.accept(meta("github", "b"), vec![]).await.unwrap());
    let left: Vec<RowId> = store
        .list(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![ids[1]]);
    // ...and a new message gets a new id, not 1 again.
    let new = stored(
        store
            .accept(meta("github", "c"), vec![msg("s", "", "{}")])
            .await
            .unwrap(),
    );
    assert!(new[0] > ids[1], "{new:?} after {ids:?}");
}

/// Waits (polling the watch, no writes) until the store has noticed its
/// files changed, at most 5 s; then a fresh delivery's `accept` error.
async fn accept_until_refused(store: &SqliteStore) -> StoreError {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !store.files_lost() {
        assert!(
            std::time::Instant::now() < deadline,
            "the store did not notice within 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    store
        .accept(meta("github", "after"), vec![])
        .await
        .expect_err("accepted after the files changed")
}

#[tokio::test]
async fn a_removed_store_file_refuses_deliveries_and_fails_its_check() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let ids = stored(
        store
            .accept(meta("github", "d1"), vec![msg("slack", "#a", "queued")])
            .await
            .unwrap(),
    );
    store.check_writable().await.unwrap();
    std::fs::remove_file(db_path(&dir)).unwrap();
    // the health check looks now
    let checked = store.check_writable().await;
    assert!(
        matches!(
            &checked,
            Err(StoreError::Lost {
                what: "removed",
                ..
            })
        ),
        "{checked:?}"
    );
    let refused = accept_until_refused(&store).await;
    assert!(refused.to_string().contains("removed"), "{refused}");
    // what is queued is still sent and recorded
    store.mark_sent(ids[0]).await.unwrap();
}

#[tokio::test]
async fn a_replaced_store_file_is_noticed_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let other = dir.path().join("other.db");
    drop(SqliteStore::open(&other).unwrap());
    std::fs::rename(&other, db_path(&dir)).unwrap();
    // no health check: the watch thread notices
    let refused = accept_until_refused(&store).await;
    assert!(
        matches!(
            &refused,
            StoreError::Lost {
                what: "replaced by another file",
                ..
            }
        ),
        "{refused}"
    );
}

#[tokio::test]
async fn thread_ids_are_kept_with_the_sent_mark_and_for_90_days() {
    use super::{THREAD_WINDOW_MS, ThreadIds, ThreadState};
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let now = Arc::new(std::sync::atomic::AtomicI64::new(1_800_000_000_000));
    let clock = {
        let now = now.clone();
        Arc::new(move || now.load(std::sync::atomic::Ordering::SeqCst)) as super::sqlite::Clock
    };
    let store = SqliteStore::open_at(&path, clock).unwrap();
    let l = lane("slack", "#eng");
    let key = "github:acme/api#pr-12";
    assert_eq!(store.thread(&l, key).await.unwrap(), None);
    let ids = store_one(&store, &l).await;
    let state = ThreadState {
        ids: ThreadIds {
            message_id: "1700000000.000001".into(),
            thread_id: Some("CENG".into()),
        },
        card: Some("{\"card\":1,\"title\":\"#12\"}".into()),
    };
    store
        .mark_sent_thread(ids, &l, &[(key.to_string(), state.clone())])
        .await
        .unwrap();
    assert_eq!(store.head(&l).await.unwrap().map(|r| r.id), None);
    assert_eq!(
        store.thread_state(&l, key).await.unwrap(),
        Some(state.clone())
    );
    assert_eq!(
        store.thread(&lane("slack", "#ops"), key).await.unwrap(),
        None
    );
    // ids alone keep the card
    store.put_thread(&l, key, &state.ids).await.unwrap();
    assert_eq!(
        store.thread_state(&l, key).await.unwrap(),
        Some(state.clone())
    );
    // a row that is not there marks nothing and keeps nothing
    let other = "github:acme/api#pr-13";
    assert!(
        store
            .mark_sent_thread(9_999, &l, &[(other.to_string(), state.clone())])
            .await
            .is_err()
    );
    assert_eq!(store.thread(&l, other).await.unwrap(), None);
    // survives a reopen; gone after 90 days
    drop(store);
    now.fetch_add(THREAD_WINDOW_MS + 1, std::sync::atomic::Ordering::SeqCst);
    let clock = {
        let now = now.clone();
        Arc::new(move || now.load(std::sync::atomic::Ordering::SeqCst)) as super::sqlite::Clock
    };
    let store = SqliteStore::open_at(&path, clock).unwrap();
    assert_eq!(store.thread(&l, key).await.unwrap(), None);
}

async fn store_one(store: &SqliteStore, l: &Lane) -> RowId {
    let meta = DeliveryMeta {
        source: "github".into(),
        delivery_id: "thread-1".into(),
        kind: "pull_request.opened".into(),
        repo: "acme/api".into(),
    };
    let msg = NewMessage {
        lane: l.clone(),
        message: "hi".into(),
    };
    match store.accept(meta, vec![msg]).await.unwrap() {
        Accepted::Stored(ids) => ids[0],
        Accepted::Duplicate => panic!("duplicate"),
    }
}

//! The PostgreSQL store and several replicas, against a real PostgreSQL
//! server (`pgserver`): the store's guarantees in process (dedup across
//! replicas, group commit, fencing, leases spread and moved, thread ids,
//! pruning, migrations under a lock), then real `hookbridge serve`
//! processes behind a round-robin sender: two and three replicas, a
//! `kill -9` mid-load, a redelivery on another replica, a replica joining
//! mid-load, the database restarting under load. Every accepted message is
//! posted once, in order per channel.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookbridge::outbox::lease::{LeaseTimings, Leases};
use hookbridge::outbox::store::postgres::{PgOptions, ThreadIds, redacted};
use hookbridge::outbox::{
    Accepted, DeliveryMeta, Lane, NewMessage, PgStore, Status, Store, StoreError,
};

use crate::common::*;
use crate::pgserver::{self, PASSWORD, PgServer};
use crate::standin::{Platform, StandIn};

const SECRET: &str = "pg-replicas-secret";

fn lane(sink: &str, channel: &str) -> Lane {
    Lane {
        sink: sink.into(),
        channel: channel.into(),
    }
}

fn meta(source: &str, id: &str) -> DeliveryMeta {
    DeliveryMeta {
        source: source.into(),
        delivery_id: id.into(),
        kind: "issues.opened".into(),
        repo: "acme/api".into(),
    }
}

fn msgs(lanes: &[&Lane], text: &str) -> Vec<NewMessage> {
    lanes
        .iter()
        .map(|l| NewMessage {
            lane: (*l).clone(),
            message: text.into(),
        })
        .collect()
}

/// Leases that renew only when a test says so ([`hookbridge::outbox::lease::PgLeases::tick_now`]).
const MANUAL: LeaseTimings = LeaseTimings {
    renew_every: Duration::from_secs(3600),
    owner_ttl: Duration::from_millis(400),
    db_ttl: Duration::from_millis(800),
    free_grace: Duration::from_secs(3600),
};

/// Leases that hold for the whole test once taken.
const STEADY: LeaseTimings = LeaseTimings {
    renew_every: Duration::from_secs(3600),
    owner_ttl: Duration::from_secs(60),
    db_ttl: Duration::from_secs(120),
    free_grace: Duration::from_secs(3600),
};

/// Quick leases, renewed by their task.
const QUICK: LeaseTimings = LeaseTimings {
    renew_every: Duration::from_millis(100),
    owner_ttl: Duration::from_millis(600),
    db_ttl: Duration::from_millis(1000),
    free_grace: Duration::from_millis(1500),
};

async fn open(url: &str, leases: Option<LeaseTimings>) -> PgStore {
    PgStore::connect_with(
        url,
        PgOptions {
            upgrade: true,
            leases,
            prune: false,
            clock: None,
        },
    )
    .await
    .unwrap_or_else(|e| panic!("open the PostgreSQL store: {e}"))
}

async fn open_at(url: &str, now: i64) -> PgStore {
    PgStore::connect_with(
        url,
        PgOptions {
            upgrade: true,
            leases: None,
            prune: false,
            clock: Some(Arc::new(move || now)),
        },
    )
    .await
    .unwrap()
}

/// A plain client on the test database, for looking at the tables.
async fn sql(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepts_commit_in_groups_and_dedup_holds_across_replicas() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let a = open(&url, None).await;
    let b = open(&url, None).await;
    let l1 = lane("slack", "#eng");
    let l2 = lane("discord", "");

    let first = a
        .accept(meta("github", "d-1"), msgs(&[&l1, &l2], "hello"))
        .await
        .unwrap();
    let Accepted::Stored(ids) = first else {
        panic!("{first:?}")
    };
    assert_eq!(ids.len(), 2);
    assert!(ids[0] < ids[1], "ids follow the order of the messages");
    // the same delivery on another replica: a duplicate, nothing queued
    assert_eq!(
        b.accept(meta("github", "d-1"), msgs(&[&l1], "again"))
            .await
            .unwrap(),
        Accepted::Duplicate
    );
    // another source with the same id is another delivery
    assert!(matches!(
        b.accept(meta("gitea", "d-1"), msgs(&[&l1], "x"))
            .await
            .unwrap(),
        Accepted::Stored(_)
    ));

    // 200 concurrent accepts over two replicas, each id twice: every id
    // stored exactly once, in far fewer commits than accepts
    let commits_before = a.commit_count() + b.commit_count();
    let mut tasks = Vec::new();
    for i in 0..200 {
        for store in [a.clone(), b.clone()] {
            let l1 = l1.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .accept(
                        meta("github", &format!("c-{i}")),
                        msgs(&[&l1], &format!("m{i}")),
                    )
                    .await
            }));
        }
    }
    let mut stored = 0;
    let mut dups = 0;
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Accepted::Stored(ids) => {
                assert_eq!(ids.len(), 1);
                stored += 1;
            }
            Accepted::Duplicate => dups += 1,
        }
    }
    assert_eq!((stored, dups), (200, 200));
    let commits = a.commit_count() + b.commit_count() - commits_before;
    assert!(
        commits < 300,
        "{commits} commits for 400 accepts: no group commit"
    );
    let rows = a.list(None, 1000).await.unwrap();
    assert_eq!(rows.len(), 2 + 1 + 200);

    // a key twice in one batch (a redelivery racing its original), on one replica
    let (x, y) = tokio::join!(
        a.accept(meta("github", "twin"), msgs(&[&l1], "t1")),
        a.accept(meta("github", "twin"), msgs(&[&l1], "t2"))
    );
    let mut got = [x.unwrap(), y.unwrap()];
    got.sort_by_key(|a| matches!(a, Accepted::Duplicate));
    assert!(matches!(got[0], Accepted::Stored(_)) && got[1] == Accepted::Duplicate);

    // text PostgreSQL cannot hold (NUL) is kept with a replacement character,
    // and does not fail the other requests of its batch
    let (bad, good) = tokio::join!(
        a.accept(meta("github", "nul\0id"), msgs(&[&l1], "a\0b")),
        a.accept(meta("github", "fine"), msgs(&[&l1], "fine"))
    );
    assert!(matches!(bad.unwrap(), Accepted::Stored(_)));
    assert!(matches!(good.unwrap(), Accepted::Stored(_)));
    let newest = a.list(None, 2).await.unwrap();
    assert!(
        newest.iter().any(|r| r.message == "a\u{FFFD}b"),
        "{newest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_replay_and_listing_work_on_postgres() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let store = open(&url, Some(STEADY)).await;
    let leases = store.lane_leases().unwrap();
    let l = lane("slack", "#ops");
    for i in 0..3 {
        store
            .accept(
                meta("github", &format!("m-{i}")),
                msgs(&[&l], &format!("msg {i}")),
            )
            .await
            .unwrap();
    }
    assert_eq!(store.pending_lanes().await.unwrap(), vec![l.clone()]);
    assert_eq!(
        store.depth_by_sink().await.unwrap(),
        vec![("slack".to_string(), 3)]
    );
    // a lease round takes the lane (the only replica is preferred for it)
    leases.tick_now().await.unwrap();
    assert!(leases.holds(&l));
    let head = store.head(&l).await.unwrap().unwrap();
    assert_eq!(head.message, "msg 0");
    store.mark_sent(head.id).await.unwrap();
    let head = store.head(&l).await.unwrap().unwrap();
    assert_eq!(head.message, "msg 1");
    store.mark_retry(head.id, 42, "HTTP 500").await.unwrap();
    let again = store.head(&l).await.unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempts, again.next_attempt_at),
        (head.id, 1, 42)
    );
    assert_eq!(again.last_error.as_deref(), Some("HTTP 500"));
    store.mark_dead(head.id, "channel_not_found").await.unwrap();
    assert_eq!(store.head(&l).await.unwrap().unwrap().message, "msg 2");

    let dead = store.list(Some(Status::Dead), 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("channel_not_found"));
    assert_eq!(store.list(Some(Status::Sent), 10).await.unwrap().len(), 1);
    let all = store.list(None, 10).await.unwrap();
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");

    // replay: a dead row and a sent one, each once however often named
    let sent_id = store.list(Some(Status::Sent), 1).await.unwrap()[0].id;
    assert_eq!(
        store
            .replay(&[dead[0].id, dead[0].id, sent_id, 999_999])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.list(Some(Status::Pending), 10).await.unwrap().len(),
        3
    );
    let head = store.head(&l).await.unwrap().unwrap();
    store.mark_dead(head.id, "gone").await.unwrap();
    assert_eq!(store.replay_dead().await.unwrap(), 1);
    let replayed = store.list(Some(Status::Pending), 10).await.unwrap();
    assert!(replayed.iter().all(|r| r.attempts == 0));
    store.check_writable().await.unwrap();

    // a sent row keeps the card it posted in place of its queued message
    let head = store.head(&l).await.unwrap().unwrap();
    let posted = r#"{"card":1,"text":"posted ✓"}"#;
    store.mark_posted(head.id, posted, &l, &[]).await.unwrap();
    let sent = store.list(Some(Status::Sent), 10).await.unwrap();
    let row = sent.iter().find(|r| r.id == head.id).unwrap();
    assert_eq!((row.message.as_str(), row.attempts), (posted, 1));

    // marking a row that does not exist says so
    let e = store.mark_sent(123_456_789).await.unwrap_err();
    assert!(e.to_string().contains("no outbox row"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_lost_its_lease_can_neither_read_nor_mark_the_lane() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let a = open(&url, Some(MANUAL)).await;
    let la = a.lane_leases().unwrap();
    let l = lane("slack", "#fenced");
    a.accept(meta("github", "f-1"), msgs(&[&l], "one"))
        .await
        .unwrap();
    la.tick_now().await.unwrap();
    assert!(la.holds(&l));
    let row = a.head(&l).await.unwrap().expect("the owner reads the head");

    // A stops renewing (paused): by its own clock it stops first...
    let b = open(&url, Some(MANUAL)).await;
    let lb = b.lane_leases().unwrap();
    tokio::time::timeout(Duration::from_secs(2), la.lost(&l))
        .await
        .expect("the owner's lease runs out by its own clock");
    assert!(!la.holds(&l));
    assert!(
        a.head(&l).await.unwrap().is_none(),
        "no head without the lease"
    );
    // ...and B takes the lane only once the database says it expired, and
    // B has been connected for a lease time (the owner could renew first)
    lb.tick_now().await.unwrap();
    assert!(!lb.holds(&l), "taken before B was settled");
    tokio::time::sleep(MANUAL.db_ttl).await;
    lb.tick_now().await.unwrap();
    assert!(lb.holds(&l), "B takes the expired lane");
    // A's late outcome is refused: B sends this row now
    let e = a.mark_sent(row.id).await.unwrap_err();
    assert!(matches!(e, StoreError::LeaseLost(_)), "{e}");
    let pending = b.head(&l).await.unwrap().unwrap();
    assert_eq!(pending.id, row.id, "the row is still pending, for B");
    // A renewing now finds the lane gone
    la.tick_now().await.unwrap();
    assert!(!la.holds(&l));
    b.mark_sent(pending.id).await.unwrap();
    assert!(b.head(&l).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_accepted_on_one_replica_wakes_the_lanes_owner_at_once() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let owner = open(&url, Some(STEADY)).await;
    let other = open(&url, Some(STEADY)).await;
    // Replica ids are random: pick a lane each replica prefers, so that
    // the owner holds `l` and not `elsewhere`.
    let live = [
        owner.lane_leases().unwrap().replica().to_string(),
        other.lane_leases().unwrap().replica().to_string(),
    ];
    let preferred_by = |who: usize| {
        (0..)
            .map(|i| lane("slack", &format!("#lane-{i}")))
            .find(|l| hookbridge::outbox::lease::preferred(l, &live) == Some(live[who].as_str()))
            .unwrap()
    };
    let (l, elsewhere) = (preferred_by(0), preferred_by(1));
    owner
        .accept(meta("github", "w-0"), msgs(&[&l], "first"))
        .await
        .unwrap();
    let leases = owner.lane_leases().unwrap();
    leases.tick_now().await.unwrap();
    assert!(leases.holds(&l));
    // the owner's lease task does not run again in this test: only the
    // announcement can wake it
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    leases.on_acquire(Arc::new(move |lane: &Lane| {
        let _ = tx.send(lane.clone());
    }));
    let sent = Instant::now();
    other
        .accept(meta("github", "w-1"), msgs(&[&l, &elsewhere], "second"))
        .await
        .unwrap();
    let woken = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the owner is woken")
        .unwrap();
    assert_eq!(woken, l, "only held lanes are woken");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lanes_spread_over_live_replicas_and_move_when_one_leaves_or_dies() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let stores = [
        open(&url, Some(QUICK)).await,
        open(&url, Some(QUICK)).await,
        open(&url, Some(QUICK)).await,
    ];
    let lanes: Vec<Lane> = (0..24)
        .map(|i| lane("slack", &format!("#l{i:02}")))
        .collect();
    let refs: Vec<&Lane> = lanes.iter().collect();
    stores[0]
        .accept(meta("github", "spread"), msgs(&refs, "x"))
        .await
        .unwrap();
    let held = |s: &PgStore| s.lane_leases().unwrap().held();
    // every lane held by exactly one replica, and each replica holds some
    let settled = |stores: &[PgStore], want: usize| {
        let mut all = Vec::new();
        let mut each = Vec::new();
        for s in stores {
            let h = held(s);
            each.push(h.len());
            all.extend(h);
        }
        let unique: HashSet<_> = all.iter().cloned().collect();
        all.len() == want && unique.len() == want && each.iter().all(|n| *n > 0)
    };
    eventually(10, "24 lanes spread over 3 replicas", || async {
        settled(&stores, 24)
    })
    .await;

    // one leaves cleanly: the others take its lanes at once
    let [s0, s1, s2] = stores;
    let gone = held(&s2).len();
    assert!(gone > 0);
    s2.leases().release_all().await;
    drop(s2);
    let started = Instant::now();
    let two = [s0, s1];
    eventually(5, "lanes of the replica that left move", || async {
        settled(&two, 24)
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // one dies (no goodbye): its lanes move once its leases expire
    let [s0, s1] = two;
    drop(s1);
    let started = Instant::now();
    let one = [s0];
    eventually(10, "lanes of the dead replica move", || async {
        settled(&one, 24)
    })
    .await;
    let took = started.elapsed();
    assert!(
        took >= QUICK.owner_ttl && took < Duration::from_secs(6),
        "took {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thread_ids_are_kept_90_days() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let day = 24 * 60 * 60 * 1000;
    let t0 = 1_800_000_000_000;
    let store = open_at(&url, t0).await;
    let l = lane("slack", "#eng");
    let other = lane("slack", "#ops");
    let key = "github:acme/api#pr-12";
    assert_eq!(store.thread(&l, key).await.unwrap(), None);
    let ids = ThreadIds {
        message_id: "1712345678.000100".into(),
        thread_id: None,
    };
    store.put_thread(&l, key, &ids).await.unwrap();
    assert_eq!(store.thread(&l, key).await.unwrap(), Some(ids.clone()));
    assert_eq!(store.thread(&other, key).await.unwrap(), None);
    assert_eq!(
        store.thread(&l, "github:acme/api#pr-13").await.unwrap(),
        None
    );
    let discord = ThreadIds {
        message_id: "111".into(),
        thread_id: Some("222".into()),
    };
    store.put_thread(&l, key, &discord).await.unwrap();
    assert_eq!(store.thread(&l, key).await.unwrap(), Some(discord.clone()));

    // another replica (process) sees it; 89 days on it still does
    let later = open_at(&url, t0 + 89 * day).await;
    assert_eq!(later.thread(&l, key).await.unwrap(), Some(discord));
    assert_eq!(later.prune().await.unwrap().threads, 0);
    // after 90 days it is gone, and pruned
    let much_later = open_at(&url, t0 + 91 * day).await;
    assert_eq!(much_later.thread(&l, key).await.unwrap(), None);
    assert_eq!(much_later.prune().await.unwrap().threads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_dedup_keys_and_sent_rows_are_pruned_dead_rows_stay() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let day = 24 * 60 * 60 * 1000;
    let t0 = 1_800_000_000_000;
    let store = open_at(&url, t0).await;
    let l = lane("slack", "#eng");
    for i in 0..3 {
        store
            .accept(meta("github", &format!("p-{i}")), msgs(&[&l], "x"))
            .await
            .unwrap();
    }
    let rows = store.list(None, 10).await.unwrap();
    store.mark_sent(rows[0].id).await.unwrap();
    store.mark_dead(rows[1].id, "gone").await.unwrap();
    // six days on: nothing is old yet, and a redelivery is still a duplicate
    let six = open_at(&url, t0 + 6 * day).await;
    assert_eq!(six.prune().await.unwrap().dedup_keys, 0);
    assert_eq!(
        six.accept(meta("github", "p-0"), msgs(&[&l], "x"))
            .await
            .unwrap(),
        Accepted::Duplicate
    );
    // eight days on: keys and the sent row go, the dead and pending rows stay
    let eight = open_at(&url, t0 + 8 * day).await;
    let pruned = eight.prune().await.unwrap();
    assert_eq!((pruned.dedup_keys, pruned.sent_rows), (3, 1));
    let left: Vec<Status> = eight
        .list(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(left.len(), 2);
    assert!(left.contains(&Status::Dead) && left.contains(&Status::Pending));
    // an id seen more than 7 days ago is a new delivery again
    assert!(matches!(
        eight
            .accept(meta("github", "p-2"), msgs(&[&l], "x"))
            .await
            .unwrap(),
        Accepted::Stored(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_under_a_lock_and_versions_are_checked() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    // the tools never create a store
    let e = PgStore::connect(&url, false).await.unwrap_err().to_string();
    assert!(e.contains("no hookbridge store"), "{e}");
    assert!(!e.contains(PASSWORD), "{e}");
    // four replicas starting at once on an empty database
    let opens = (0..4).map(|_| {
        let url = url.clone();
        tokio::spawn(async move {
            let opts = PgOptions {
                upgrade: true,
                leases: None,
                prune: false,
                clock: None,
            };
            PgStore::connect_with(&url, opts).await
        })
    });
    for o in opens {
        o.await.unwrap().unwrap();
    }
    let client = sql(&url).await;
    let v: i32 = client
        .query_one("SELECT version FROM hookbridge_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 3);
    let n: i64 = client
        .query_one("SELECT count(*) FROM hookbridge_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // now the tools open it
    PgStore::connect(&url, false).await.unwrap();
    // a schema from a newer hookbridge is refused, by the service too
    client
        .execute("UPDATE hookbridge_schema SET version = 99", &[])
        .await
        .unwrap();
    for upgrade in [false, true] {
        let e = PgStore::connect(&url, upgrade).await.unwrap_err();
        assert!(e.to_string().contains("newer than this binary"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_is_never_in_errors_or_names() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let store = open(&url, None).await;
    assert!(!store.database().contains(PASSWORD));
    assert!(store.database().starts_with("postgres://hb@127.0.0.1:"));
    assert!(!redacted(&url).contains(PASSWORD));
    // a wrong password, a closed port, a bad URL
    let wrong = url.replace(PASSWORD, "not-the-password");
    let e = PgStore::connect(&wrong, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("not-the-password"), "{e}");
    let closed = format!(
        "postgres://hb:{PASSWORD}@127.0.0.1:{}/x",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let e = PgStore::connect(&closed, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains(PASSWORD), "{e}");
    let e = PgStore::connect(
        &format!("postgres://hb:{PASSWORD}@127.0.0.1:notaport/x"),
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(!e.contains(PASSWORD), "{e}");
}

// ---------------------------------------------------------------------
// Real `hookbridge serve` replicas.

/// Channels the route sends every delivery to: one lane each.
fn channels(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("#c{i:02}")).collect()
}

fn replica_config(
    dir: &std::path::Path,
    standin: &StandIn,
    lanes: usize,
    interval: &str,
) -> std::path::PathBuf {
    let to: Vec<String> = channels(lanes)
        .iter()
        .map(|c| format!("\"slack:{c}\""))
        .collect();
    let text = format!(
        r##"
[store]
url = "${{HB_TEST_DATABASE_URL}}"

[delivery]
timeout = "2s"
min_interval = "{interval}"

[sources.github]
kind = "github"
secret = "{SECRET}"

[sinks.slack]
kind = "slack"
token = "xoxb-test-token"
api_base = "{slack}"

[[routes]]
events = ["issues"]
to = [{to}]
"##,
        slack = standin.slack_api_base(),
        to = to.join(", "),
    );
    let path = dir.join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn replica(config: &std::path::Path, url: &str) -> Proc {
    Proc::serve(config, &[], &[("HB_TEST_DATABASE_URL", url)])
}

/// The replica id a serving process logged.
fn replica_id(p: &Proc) -> String {
    for line in p.stderr().lines() {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
            && let Some(id) = v["fields"]["replica"].as_str()
        {
            return id.to_string();
        }
    }
    panic!("no replica id in the log:\n{}", p.stderr());
}

/// The `issue-NNNN` markers the stand-in got, per Slack channel, in order.
fn by_channel(standin: &StandIn) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in standin.received() {
        if r.platform != Some(Platform::Slack) {
            continue;
        }
        let v = r.json();
        let channel = v["channel"].as_str().unwrap_or("").to_string();
        if let Some(marker) = issue_marker(v["text"].as_str().unwrap_or("")) {
            m.entry(channel).or_default().push(marker);
        }
    }
    m
}

fn markers(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("issue-{i:04}")).collect()
}

/// Every channel got exactly `want` (in order), allowing at most
/// `max_dups` messages sent twice in a row per channel (a send cut off by a
/// kill); returns how many were sent twice.
fn check_channels(standin: &StandIn, lanes: usize, want: &[String], max_dups: usize) -> usize {
    let got = by_channel(standin);
    let mut dups = 0;
    for c in channels(lanes) {
        let seq = got.get(&c).cloned().unwrap_or_default();
        let mut collapsed: Vec<String> = Vec::new();
        let mut here = 0;
        for m in seq {
            if collapsed.last() == Some(&m) {
                here += 1;
            } else {
                collapsed.push(m);
            }
        }
        assert_eq!(collapsed, want, "{c}: out of order, lost or repeated");
        assert!(here <= max_dups, "{c}: {here} messages sent twice");
        dups += here;
    }
    dups
}

/// Waits until every channel has all of `want` (sent twice or not).
async fn all_delivered(standin: &StandIn, lanes: usize, want: &[String], secs: u64) {
    let want_set: HashSet<&String> = want.iter().collect();
    eventually(
        secs,
        "every accepted message delivered on every channel",
        || async {
            let got = by_channel(standin);
            channels(lanes).iter().all(|c| {
                got.get(c).is_some_and(|seq| {
                    let seen: HashSet<&String> = seq.iter().collect();
                    want_set.iter().all(|w| seen.contains(w))
                })
            })
        },
    )
    .await;
}

/// A load balancer's round robin: each delivery goes to the next replica
/// that answers; one that refuses the connection is skipped.
struct RoundRobin {
    client: reqwest::Client,
    next: usize,
}

impl RoundRobin {
    fn new() -> RoundRobin {
        RoundRobin {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap(),
            next: 0,
        }
    }

    /// Posts delivery `n` to the replicas in turn until one answers; the
    /// status and the replica that answered.
    async fn post(&mut self, addrs: &[String], n: usize) -> (u16, usize) {
        let (headers, body) = numbered_issue(SECRET, n);
        for _ in 0..addrs.len() {
            let i = self.next % addrs.len();
            self.next += 1;
            let mut req = self
                .client
                .post(format!("{}/hooks/github", addrs[i]))
                .body(body.clone());
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if let Ok(resp) = req.send().await {
                return (resp.status().as_u16(), i);
            }
        }
        panic!("no replica answered delivery {n}");
    }

    /// Posts `n` until it is accepted (202, or 200 for a duplicate),
    /// retrying 503s as a sender does; how many 503s it got.
    async fn post_until_accepted(&mut self, addrs: &[String], n: usize, secs: u64) -> usize {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut refused = 0;
        loop {
            let (status, _) = self.post(addrs, n).await;
            match status {
                202 | 200 => return refused,
                503 => refused += 1,
                other => panic!("delivery {n}: unexpected {other}"),
            }
            assert!(
                Instant::now() < deadline,
                "delivery {n} not accepted within {secs}s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn post_to(addr: &str, headers: &[(String, String)], body: Vec<u8>) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("{addr}/hooks/github"))
        .timeout(Duration::from_secs(15))
        .body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    req.send().await.unwrap().status().as_u16()
}

fn sent_lines(p: &Proc) -> usize {
    p.stderr()
        .lines()
        .filter(|l| l.contains("\"message\":\"sent\""))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_every_message_once_in_order_and_redeliveries_queue_nothing() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let lanes = 16;
    let config = replica_config(dir.path(), &standin, lanes, "0s");
    let a = replica(&config, &url);
    let b = replica(&config, &url);
    let addrs = vec![a.addr.clone(), b.addr.clone()];
    let mut rr = RoundRobin::new();
    let n = 30;
    let mut answered_by = [0; 2];
    for i in 0..n {
        let (status, by) = rr.post(&addrs, i).await;
        assert_eq!(status, 202, "delivery {i}");
        answered_by[by] += 1;
    }
    assert_eq!(answered_by, [n / 2, n / 2]);
    let want = markers(0..n);
    all_delivered(&standin, lanes, &want, 30).await;
    check_channels(&standin, lanes, &want, 0);

    // a redelivery landing on the other replica: 200, nothing queued
    let client = sql(&url).await;
    let count = async |c: &tokio_postgres::Client| -> i64 {
        c.query_one("SELECT count(*) FROM hookbridge_outbox", &[])
            .await
            .unwrap()
            .get(0)
    };
    let before = count(&client).await;
    for i in [0, 1, 7] {
        for addr in &addrs {
            let (h, body) = numbered_issue(SECRET, i);
            let status = post_to(addr, &h, body).await;
            assert_eq!(status, 200, "redelivery of {i}");
        }
    }
    assert_eq!(
        count(&client).await,
        before,
        "a redelivery queued something"
    );

    // both replicas sent some of the lanes
    eventually(10, "both replicas logged sends", || async {
        sent_lines(&a) > 0 && sent_lines(&b) > 0
    })
    .await;
    assert_eq!(sent_lines(&a) + sent_lines(&b), n * lanes);

    // deliveries and replay work against PostgreSQL
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookbridge"))
        .args(["deliveries", "--json", "--limit", "5", "--config"])
        .arg(&config)
        .env("HB_TEST_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().all(|r| r["status"] == "sent"));
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    let before = standin.received().len();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookbridge"))
        .args(["replay", &id, "--config"])
        .arg(&config)
        .env("HB_TEST_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    standin.wait_for(before + 1).await;
    for p in [&a, &b] {
        assert!(!p.stderr().contains(PASSWORD), "the password was logged");
    }
    assert!(!String::from_utf8_lossy(&out.stderr).contains(PASSWORD));
    // `check` names the store without the password
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookbridge"))
        .args(["check", "--config"])
        .arg(&config)
        .env("HB_TEST_DATABASE_URL", &url)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("store: postgres://hb:***@127.0.0.1:"),
        "{shown}"
    );
    assert!(!shown.contains(PASSWORD), "{shown}");
}

/// The replica ids holding leases on lanes with pending rows, with how many.
async fn owners_of_pending(client: &tokio_postgres::Client) -> BTreeMap<String, i64> {
    client
        .query(
            "SELECT l.owner, count(*) FROM hookbridge_lease l
              WHERE EXISTS (SELECT 1 FROM hookbridge_outbox o WHERE o.status = 'pending'
                              AND o.sink = l.sink AND o.channel = l.channel)
              GROUP BY l.owner",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_killed_mid_load_its_lanes_move_within_15s_nothing_lost() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let lanes = 12;
    let config = replica_config(dir.path(), &standin, lanes, "100ms");
    let mut procs = [
        replica(&config, &url),
        replica(&config, &url),
        replica(&config, &url),
    ];
    let ids: Vec<String> = procs.iter().map(replica_id).collect();
    let mut addrs: Vec<String> = procs.iter().map(|p| p.addr.clone()).collect();
    let mut rr = RoundRobin::new();
    let n = 40;
    for i in 0..30 {
        assert_eq!(rr.post(&addrs, i).await.0, 202, "delivery {i}");
    }
    // sending is under way, spread over the three
    let client = sql(&url).await;
    standin.wait_for(2 * lanes).await;
    let owners = owners_of_pending(&client).await;
    // the victim: the replica holding the most lanes
    let (victim_id, held) = owners
        .iter()
        .filter(|(o, _)| ids.contains(o))
        .max_by_key(|(_, n)| **n)
        .map(|(o, n)| (o.clone(), *n))
        .expect("some replica holds lanes");
    assert!(held > 0);
    let victim = ids.iter().position(|i| *i == victim_id).unwrap();
    procs[victim].kill9();
    let killed = Instant::now();
    let before = standin.received().len();
    assert!(
        before < n * lanes,
        "all sent before the kill: make the test slower"
    );
    // the load goes on through the two left
    addrs.remove(victim);
    for i in 30..n {
        assert_eq!(rr.post(&addrs, i).await.0, 202, "delivery {i}");
    }
    // its lanes move within 15 s
    let deadline = killed + Duration::from_secs(15);
    loop {
        let owners = owners_of_pending(&client).await;
        if !owners.contains_key(&victim_id) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead replica still holds {owners:?} 15 s after the kill"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let moved = killed.elapsed();
    assert!(
        moved >= Duration::from_secs(5),
        "lanes moved before the lease ran out: {moved:?}"
    );
    // every accepted message once, in order per channel; a message is sent
    // twice only when the kill cut its send's answer: at most one per lane
    let want = markers(0..n);
    all_delivered(&standin, lanes, &want, 30).await;
    check_channels(&standin, lanes, &want, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_joining_mid_load_takes_its_share_between_two_sends() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let lanes = 16;
    let config = replica_config(dir.path(), &standin, lanes, "100ms");
    let a = replica(&config, &url);
    let mut rr = RoundRobin::new();
    let n = 30;
    for i in 0..15 {
        assert_eq!(rr.post(std::slice::from_ref(&a.addr), i).await.0, 202);
    }
    standin.wait_for(lanes).await;
    // B starts while A is sending every lane
    let b = replica(&config, &url);
    let addrs = vec![a.addr.clone(), b.addr.clone()];
    for i in 15..n {
        assert_eq!(rr.post(&addrs, i).await.0, 202, "delivery {i}");
    }
    let want = markers(0..n);
    all_delivered(&standin, lanes, &want, 30).await;
    // handed over between two sends: nothing twice, nothing out of order
    check_channels(&standin, lanes, &want, 0);
    assert!(
        sent_lines(&b) > 0,
        "B sent nothing: the lanes were not shared"
    );
    assert_eq!(sent_lines(&a) + sent_lines(&b), n * lanes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restarting_under_load_answers_503_then_recovers_losing_nothing() {
    // a server of this test's own: it is stopped and started again
    let Some(pg) = PgServer::private() else {
        return;
    };
    let url = pg.database().await;
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let lanes = 4;
    let config = replica_config(dir.path(), &standin, lanes, "0s");
    let a = replica(&config, &url);
    let b = replica(&config, &url);
    let addrs = vec![a.addr.clone(), b.addr.clone()];
    let n = 60;
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sender = {
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let mut rr = RoundRobin::new();
            let mut refused = 0;
            for i in 0..n {
                refused += rr.post_until_accepted(&addrs, i, 60).await;
                accepted.store(i + 1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            refused
        })
    };
    eventually(30, "the first deliveries accepted", || async {
        accepted.load(std::sync::atomic::Ordering::SeqCst) >= 10
    })
    .await;
    // the database goes away (as in a crash) for three seconds
    pg.stop(false);
    let down_at = accepted.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        during <= down_at + 1,
        "accepted while the database was down"
    );
    pg.start();
    let refused = tokio::time::timeout(Duration::from_secs(90), sender)
        .await
        .expect("the sender finishes")
        .unwrap();
    assert!(refused > 0, "no 503 while the database was down");
    let want = markers(0..n);
    all_delivered(&standin, lanes, &want, 30).await;
    check_channels(&standin, lanes, &want, 0);
    for p in [&a, &b] {
        assert!(!p.stderr().contains(PASSWORD), "the password was logged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_replica_stops_before_its_lanes_move_and_sends_nothing_late() {
    let Some(pg) = pgserver::shared() else { return };
    let url = pg.database().await;
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let lanes = 8;
    let config = replica_config(dir.path(), &standin, lanes, "100ms");
    let procs = [replica(&config, &url), replica(&config, &url)];
    let ids: Vec<String> = procs.iter().map(replica_id).collect();
    let addrs: Vec<String> = procs.iter().map(|p| p.addr.clone()).collect();
    let mut rr = RoundRobin::new();
    let n = 40;
    for i in 0..30 {
        assert_eq!(rr.post(&addrs, i).await.0, 202, "delivery {i}");
    }
    standin.wait_for(2 * lanes).await;
    let client = sql(&url).await;
    let owners = owners_of_pending(&client).await;
    let victim = (0..2)
        .max_by_key(|i| owners.get(&ids[*i]).copied().unwrap_or(0))
        .unwrap();
    // paused mid-send: it cannot renew, nor stop by itself
    procs[victim].signal("STOP");
    let paused = Instant::now();
    let live = &addrs[1 - victim..2 - victim];
    for i in 30..n {
        assert_eq!(rr.post(live, i).await.0, 202, "delivery {i}");
    }
    let deadline = paused + Duration::from_secs(15);
    while owners_of_pending(&client).await.contains_key(&ids[victim]) {
        assert!(
            Instant::now() < deadline,
            "the paused replica's lanes did not move"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // it wakes up with its leases long gone by its own clock: it sends
    // nothing more on those lanes (a late send would break the order)
    procs[victim].signal("CONT");
    let want = markers(0..n);
    all_delivered(&standin, lanes, &want, 30).await;
    // its first lease round after waking finds the lanes gone
    eventually(10, "the woken replica sees its leases lost", || async {
        procs[victim].stderr().contains("lane leases lost")
    })
    .await;
    check_channels(&standin, lanes, &want, 1);
}

//! Lane leases: which lanes (sink + channel) this process may send.
//!
//! One service per SQLite file holds every lane ([`AlwaysHeld`]). Several
//! replicas on one PostgreSQL database share the lanes through
//! [`PgLeases`]: a row per lane in `hookbridge_lease` with an owner, a
//! fencing token and an expiry on the database's clock. Each replica:
//!
//! - renews the leases it holds every [`LeaseTimings::renew_every`], and
//!   counts each one as its own only until [`LeaseTimings::owner_ttl`]
//!   after the renewal was *sent* (by its monotonic clock), while the row
//!   says [`LeaseTimings::db_ttl`] after the database *received* it: an
//!   owner that cannot renew (paused, partitioned, the database down)
//!   stops sending, and cancels a send in flight, before any other replica
//!   may take the lane;
//! - spreads the lanes by rendezvous hashing over the live replicas (those
//!   whose heartbeat the database saw within `db_ttl`): each lane has one
//!   preferred replica, which takes it when it is free or its lease has
//!   expired; a replica holding a lane another one is preferred for gives it
//!   back between two sends, so a replica that starts gets its share at
//!   once, and one that dies loses its lanes within `db_ttl` plus a tick;
//! - takes an expired lease of another owner only once it has itself been
//!   connected for `db_ttl`, so that after a database outage every owner
//!   gets to renew its own leases first;
//! - hears of new rows on other replicas through `LISTEN`/`NOTIFY` (the
//!   store announces the lanes of each commit on [`LANES_CHANNEL`]) and
//!   wakes the worker of a lane it holds, so a message accepted by one
//!   replica is sent by the lane's owner at once;
//! - fences every read of a lane's head and every mark with the token
//!   (the store does this with [`PgLeases::head_fence`] and
//!   [`PgLeases::mark_fence`]): a replica that lost a lane can neither read
//!   its head nor record an outcome there ([`super::StoreError::LeaseLost`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use deadpool_postgres::Pool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::store::{Lane, RowId};

/// Called with a lane this process has just taken, so its worker starts now.
pub type Waker = Arc<dyn Fn(&Lane) + Send + Sync>;

/// Which lanes this process may send.
#[async_trait]
pub trait Leases: Send + Sync {
    /// True while this process may send `lane`.
    fn holds(&self, lane: &Lane) -> bool;
    /// Resolves once this process no longer holds `lane` (never, for a
    /// store with one service). A worker races its send against it.
    async fn lost(&self, lane: &Lane);
    /// Registers the function that wakes a lane's worker.
    fn on_acquire(&self, wake: Waker);
    /// Gives every lane back (after the workers stopped), so other
    /// replicas take them at once rather than when the leases expire.
    async fn release_all(&self);
}

/// One service per store: every lane is always held.
#[derive(Debug, Default, Clone, Copy)]
pub struct AlwaysHeld;

#[async_trait]
impl Leases for AlwaysHeld {
    fn holds(&self, _: &Lane) -> bool {
        true
    }
    async fn lost(&self, _: &Lane) {
        std::future::pending::<()>().await
    }
    fn on_acquire(&self, _: Waker) {}
    async fn release_all(&self) {}
}

/// The lease timings (see the module doc). `owner_ttl` must be shorter
/// than `db_ttl`, with room for a send to be cancelled.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTimings {
    pub renew_every: Duration,
    pub owner_ttl: Duration,
    pub db_ttl: Duration,
    /// A lane free (or expired) this long is taken by any replica, not
    /// only its preferred one.
    pub free_grace: Duration,
}

impl LeaseTimings {
    /// A replica that dies loses its lanes to the others within
    /// `db_ttl + 2 * renew_every`: 12 s.
    pub const DEFAULT: LeaseTimings = LeaseTimings {
        renew_every: Duration::from_secs(1),
        owner_ttl: Duration::from_secs(6),
        db_ttl: Duration::from_secs(10),
        free_grace: Duration::from_secs(5),
    };
}

/// The `NOTIFY` channel the store announces accepted lanes on: a JSON
/// array of `[sink, channel]` pairs.
pub const LANES_CHANNEL: &str = "hookbridge_lanes";
/// Pause before listening again after the listening connection broke.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// How often a worker waiting on [`Leases::lost`] looks again.
const LOST_POLL: Duration = Duration::from_millis(100);
/// Replica rows not seen for this long are deleted.
const REPLICA_FORGET_MS: i64 = 24 * 60 * 60 * 1000;

/// The lanes with pending rows: a skip scan of the pending-rows index, one
/// probe per lane however many rows wait in each.
pub(crate) const SQL_PENDING_LANES: &str = "
WITH RECURSIVE lanes (sink, channel) AS (
    (SELECT sink, channel FROM hookbridge_outbox WHERE status = 'pending'
      ORDER BY sink, channel LIMIT 1)
    UNION ALL
    SELECT n.sink, n.channel FROM lanes, LATERAL (
        SELECT sink, channel FROM hookbridge_outbox
         WHERE status = 'pending' AND (sink, channel) > (lanes.sink, lanes.channel)
         ORDER BY sink, channel LIMIT 1) n
)
SELECT sink, channel FROM lanes";

/// The database's clock, in Unix milliseconds.
pub(crate) const DB_NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::int8";

/// Leases on PostgreSQL: one per lane, renewed by a task of their own.
pub struct PgLeases {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    listener: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for PgLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLeases")
            .field("replica", &self.shared.me)
            .finish_non_exhaustive()
    }
}

struct Shared {
    pool: Pool,
    /// This replica's id: unique per process.
    me: String,
    timings: LeaseTimings,
    state: Mutex<State>,
    waker: Mutex<Option<Waker>>,
}

#[derive(Default)]
struct State {
    held: HashMap<Lane, Held>,
    /// The row each lane's head read handed out, with the token it was read under.
    handed: HashMap<RowId, (Lane, i64)>,
    /// Since when the ticks have succeeded without a gap.
    connected_since: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    token: i64,
    /// Ours until then, by this process's monotonic clock.
    valid_until: Instant,
    /// A due row was handed out and its outcome not yet recorded: the lane
    /// is given back only between two sends.
    busy: bool,
    /// Another live replica is preferred for this lane: hand out no more
    /// rows, and give it back once not busy.
    release: bool,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PgLeases {
    /// Starts the lease task for a replica with a fresh id, and (given the
    /// database's config) the task that listens for accepted lanes.
    pub fn start(
        pool: Pool,
        listen: Option<tokio_postgres::Config>,
        timings: LeaseTimings,
    ) -> Arc<PgLeases> {
        let me = replica_id();
        let shared = Arc::new(Shared {
            pool,
            me,
            timings,
            state: Mutex::new(State::default()),
            waker: Mutex::new(None),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(shared.clone(), stop_rx.clone()));
        let listener =
            listen.map(|config| tokio::spawn(listen_for_lanes(shared.clone(), config, stop_rx)));
        tracing::info!(replica = %shared.me, "lane leases: this replica takes its share of the lanes");
        Arc::new(PgLeases {
            shared,
            stop,
            task: Mutex::new(Some(task)),
            listener,
        })
    }

    /// This replica's id, as the lease rows name it.
    pub fn replica(&self) -> &str {
        &self.shared.me
    }

    /// The lanes held now.
    pub fn held(&self) -> Vec<Lane> {
        let now = Instant::now();
        let mut v: Vec<Lane> = lock(&self.shared.state)
            .held
            .iter()
            .filter(|(_, h)| h.valid_until > now)
            .map(|(l, _)| l.clone())
            .collect();
        v.sort();
        v
    }

    /// Runs one round of renewal, heartbeat and takeover now (tests).
    pub async fn tick_now(&self) -> Result<(), String> {
        tick(&self.shared).await
    }

    /// The token to read `lane`'s head under, or `None` when this replica
    /// must not send it now (not held, expired, or being given back).
    pub(crate) fn head_fence(&self, lane: &Lane) -> Option<(String, i64)> {
        let state = lock(&self.shared.state);
        let h = state.held.get(lane)?;
        if h.valid_until <= Instant::now() || (h.release && !h.busy) {
            return None;
        }
        Some((self.shared.me.clone(), h.token))
    }

    /// Records what a head read under `token` handed out: a due row makes
    /// the lane busy until its outcome is recorded. False when the lease
    /// went meanwhile (given back, lost): the row must not be sent.
    pub(crate) fn handed_out(&self, lane: &Lane, token: i64, row: Option<(RowId, bool)>) -> bool {
        let mut state = lock(&self.shared.state);
        state.handed.retain(|_, (l, _)| l != lane);
        let Some(h) = state.held.get_mut(lane).filter(|h| h.token == token) else {
            return false;
        };
        h.busy = row.is_some_and(|(_, due)| due);
        if let Some((id, _)) = row {
            state.handed.insert(id, (lane.clone(), token));
        }
        true
    }

    /// The owner and token to fence a mark of row `id` with: the token its
    /// head read ran under, or (a row not handed out here) any token of ours.
    pub(crate) fn mark_fence(&self, id: RowId) -> (String, i64) {
        let state = lock(&self.shared.state);
        let token = state.handed.get(&id).map_or(-1, |(_, t)| *t);
        (self.shared.me.clone(), token)
    }

    /// The outcome of row `id` is recorded (or never will be here): the
    /// lane is no longer busy.
    pub(crate) fn marked(&self, id: RowId, lease_lost: bool) {
        let mut state = lock(&self.shared.state);
        let Some((lane, token)) = state.handed.remove(&id) else {
            return;
        };
        if lease_lost {
            if state.held.get(&lane).is_some_and(|h| h.token == token) {
                state.held.remove(&lane);
            }
            tracing::warn!(sink = %lane.sink, channel = %lane.channel, "lane lease lost: another replica sends this lane now");
        } else if let Some(h) = state.held.get_mut(&lane)
            && h.token == token
        {
            h.busy = false;
        }
    }
}

impl Drop for PgLeases {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
        if let Some(l) = &self.listener {
            l.abort();
        }
    }
}

#[async_trait]
impl Leases for PgLeases {
    fn holds(&self, lane: &Lane) -> bool {
        lock(&self.shared.state)
            .held
            .get(lane)
            .is_some_and(|h| h.valid_until > Instant::now())
    }

    async fn lost(&self, lane: &Lane) {
        loop {
            let until = lock(&self.shared.state)
                .held
                .get(lane)
                .map(|h| h.valid_until);
            let now = Instant::now();
            match until {
                Some(t) if t > now => {
                    tokio::time::sleep_until((t.min(now + LOST_POLL)).into()).await;
                }
                _ => return,
            }
        }
    }

    fn on_acquire(&self, wake: Waker) {
        *self
            .shared
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(wake);
    }

    async fn release_all(&self) {
        let _ = self.stop.send(true);
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            // The task stops between two ticks; a tick holds no lock we need.
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        let count = {
            let mut state = lock(&self.shared.state);
            state.handed.clear();
            std::mem::take(&mut state.held).len()
        };
        let me = self.shared.me.clone();
        let released = tokio::time::timeout(Duration::from_secs(5), async {
            let client = self.shared.pool.get().await.map_err(|e| e.to_string())?;
            client
                .execute(
                    &format!(
                        "UPDATE hookbridge_lease SET owner = '', expires_at = {DB_NOW_MS} WHERE owner = $1"
                    ),
                    &[&me],
                )
                .await
                .map_err(|e| e.to_string())?;
            client
                .execute("DELETE FROM hookbridge_replica WHERE id = $1", &[&me])
                .await
                .map_err(|e| e.to_string())?;
            Ok::<(), String>(())
        })
        .await;
        match released {
            Ok(Ok(())) => tracing::info!(lanes = count, "gave the lane leases back"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not give the lane leases back; they expire on their own")
            }
            Err(_) => tracing::warn!(
                "giving the lane leases back took too long; they expire on their own"
            ),
        }
    }
}

/// Wakes the workers of held lanes that other replicas announce.
async fn listen_for_lanes(
    shared: Arc<Shared>,
    config: tokio_postgres::Config,
    mut stop: watch::Receiver<bool>,
) {
    use tokio_postgres::AsyncMessage;
    loop {
        match config.connect(tokio_postgres::NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
                let driver = tokio::spawn(async move {
                    while let Some(Ok(m)) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        if let AsyncMessage::Notification(n) = m
                            && tx.send(n.payload().to_string()).is_err()
                        {
                            return;
                        }
                    }
                });
                let listening = tokio::time::timeout(
                    Duration::from_secs(10),
                    client.batch_execute(&format!("LISTEN {LANES_CHANNEL}")),
                )
                .await;
                if matches!(listening, Ok(Ok(()))) {
                    loop {
                        tokio::select! {
                            payload = rx.recv() => match payload {
                                Some(p) => wake_announced(&shared, &p),
                                None => break, // the connection ended
                            },
                            _ = stop.changed() => {
                                driver.abort();
                                return;
                            }
                        }
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::debug!(error = %e, "cannot listen for accepted lanes; trying again"),
        }
        tokio::select! {
            _ = tokio::time::sleep(LISTEN_RETRY) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Wakes the held lanes among those announced.
fn wake_announced(shared: &Shared, payload: &str) {
    let Ok(pairs) = serde_json::from_str::<Vec<(String, String)>>(payload) else {
        return;
    };
    let now = Instant::now();
    let held: Vec<Lane> = {
        let state = lock(&shared.state);
        pairs
            .into_iter()
            .map(|(sink, channel)| Lane { sink, channel })
            .filter(|l| state.held.get(l).is_some_and(|h| h.valid_until > now))
            .collect()
    };
    if held.is_empty() {
        return;
    }
    let waker = shared
        .waker
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(wake) = waker {
        for lane in &held {
            wake(lane);
        }
    }
}

/// A fresh id per process: host, pid and a random part.
fn replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() { "host".into() } else { host };
    format!("{host}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

/// The lease task: a tick every `renew_every` until stopped.
async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut failing_since: Option<Instant> = None;
    loop {
        match tick(&shared).await {
            Ok(()) => {
                if let Some(since) = failing_since.take() {
                    tracing::info!(after = %humantime::format_duration(Duration::from_secs(since.elapsed().as_secs())), "lane leases: the database answers again");
                }
            }
            Err(e) => {
                lock(&shared.state).connected_since = None;
                if failing_since.is_none() {
                    failing_since = Some(Instant::now());
                    tracing::error!(error = %e, "lane leases: cannot reach the database; this replica stops sending when its leases run out");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.timings.renew_every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One lease row as a tick reads it.
struct Row {
    owner: String,
    token: i64,
    /// Milliseconds past its expiry, by the database clock (negative: not yet expired).
    expired_for_ms: i64,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Renews, heartbeats, gives back what another replica is preferred for,
/// and takes what this one is preferred for.
async fn tick(shared: &Shared) -> Result<(), String> {
    let t = shared.timings;
    let me = &shared.me;
    let sent_at = Instant::now();
    let client = tokio::time::timeout(t.owner_ttl, shared.pool.get())
        .await
        .map_err(|_| "no database connection within the lease time".to_string())?
        .map_err(|e| e.to_string())?;
    let work = async {
        // 1. Renew: the rows still ours are the leases we hold.
        let renewed = client
            .query(
                &format!(
                    "UPDATE hookbridge_lease SET expires_at = {DB_NOW_MS} + $2 WHERE owner = $1
                     RETURNING sink, channel, token"
                ),
                &[me, &ms(t.db_ttl)],
            )
            .await
            .map_err(|e| format!("renewing the lane leases: {e}"))?;
        let valid_until = sent_at + t.owner_ttl;
        let mut woken = Vec::new();
        {
            let mut state = lock(&shared.state);
            let mine: HashMap<Lane, i64> = renewed
                .iter()
                .map(|r| {
                    (
                        Lane {
                            sink: r.get(0),
                            channel: r.get(1),
                        },
                        r.get(2),
                    )
                })
                .collect();
            let before = state.held.len();
            state
                .held
                .retain(|lane, h| mine.get(lane).is_some_and(|tok| *tok == h.token));
            if state.held.len() < before {
                tracing::warn!(
                    lost = before - state.held.len(),
                    "lane leases lost: other replicas send those lanes now"
                );
            }
            for (lane, token) in mine {
                match state.held.get_mut(&lane) {
                    Some(h) => h.valid_until = valid_until,
                    None => {
                        woken.push(lane.clone());
                        state.held.insert(
                            lane,
                            Held {
                                token,
                                valid_until,
                                busy: false,
                                release: false,
                            },
                        );
                    }
                }
            }
            if state.connected_since.is_none() {
                state.connected_since = Some(sent_at);
            }
        }
        // 2. Heartbeat, then who is live and what is pending.
        client
            .execute(
                &format!(
                    "INSERT INTO hookbridge_replica (id, seen_at) VALUES ($1, {DB_NOW_MS})
                     ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at"
                ),
                &[me],
            )
            .await
            .map_err(|e| format!("replica heartbeat: {e}"))?;
        let live: Vec<String> = client
            .query(
                &format!(
                    "SELECT id FROM hookbridge_replica WHERE seen_at > {DB_NOW_MS} - $1
                     OR id = $2"
                ),
                &[&ms(t.db_ttl), me],
            )
            .await
            .map_err(|e| format!("listing live replicas: {e}"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let pending: HashSet<Lane> = client
            .query(SQL_PENDING_LANES, &[])
            .await
            .map_err(|e| format!("listing pending lanes: {e}"))?
            .iter()
            .map(|r| Lane {
                sink: r.get(0),
                channel: r.get(1),
            })
            .collect();
        let rows: HashMap<Lane, Row> = client
            .query(
                &format!(
                    "SELECT sink, channel, owner, token, {DB_NOW_MS} - expires_at FROM hookbridge_lease"
                ),
                &[],
            )
            .await
            .map_err(|e| format!("listing lane leases: {e}"))?
            .iter()
            .map(|r| {
                (
                    Lane {
                        sink: r.get(0),
                        channel: r.get(1),
                    },
                    Row {
                        owner: r.get(2),
                        token: r.get(3),
                        expired_for_ms: r.get(4),
                    },
                )
            })
            .collect();

        // 3. Give back: lanes another live replica is preferred for, between two sends.
        let mut give_back = Vec::new();
        {
            let mut state = lock(&shared.state);
            for (lane, h) in state.held.iter_mut() {
                let preferred = preferred(lane, &live);
                if preferred == Some(me.as_str()) || preferred.is_none() {
                    h.release = false;
                    continue;
                }
                h.release = true;
                if !h.busy {
                    give_back.push((lane.clone(), h.token));
                }
            }
            for (lane, _) in &give_back {
                state.held.remove(lane);
                state.handed.retain(|_, (l, _)| l != lane);
            }
        }
        for (lane, token) in give_back {
            client
                .execute(
                    &format!(
                        "UPDATE hookbridge_lease SET owner = '', expires_at = {DB_NOW_MS}
                         WHERE sink = $1 AND channel = $2 AND owner = $3 AND token = $4"
                    ),
                    &[&lane.sink, &lane.channel, me, &token],
                )
                .await
                .map_err(|e| format!("giving a lane back: {e}"))?;
            tracing::info!(sink = %lane.sink, channel = %lane.channel, "gave a lane to the replica preferred for it");
        }

        // 4. Take: pending lanes this replica is preferred for (or that nobody took).
        let settled = lock(&shared.state)
            .connected_since
            .is_some_and(|s| s.elapsed() >= t.db_ttl);
        let mut lanes: Vec<&Lane> = pending.iter().collect();
        lanes.sort();
        for lane in lanes {
            if lock(&shared.state).held.contains_key(lane) {
                continue;
            }
            let is_preferred = preferred(lane, &live) == Some(me.as_str());
            let seen_token = match rows.get(lane) {
                None if is_preferred => -1,
                None => continue,
                Some(r) if r.owner == *me => continue, // renewed above, or given back just now
                Some(r) => {
                    let expired = r.expired_for_ms >= 0;
                    let others = !r.owner.is_empty();
                    let long = r.expired_for_ms >= ms(t.free_grace);
                    if !expired || (others && !settled) || !(is_preferred || long) {
                        continue;
                    }
                    r.token
                }
            };
            let taken = client
                .query_opt(
                    &format!(
                        "INSERT INTO hookbridge_lease AS l (sink, channel, owner, token, expires_at)
                         VALUES ($1, $2, $3, 1, {DB_NOW_MS} + $4)
                         ON CONFLICT (sink, channel) DO UPDATE
                            SET owner = excluded.owner, token = l.token + 1, expires_at = excluded.expires_at
                          WHERE l.token = $5 AND l.expires_at <= {DB_NOW_MS}
                         RETURNING token"
                    ),
                    &[&lane.sink, &lane.channel, me, &ms(t.db_ttl), &seen_token],
                )
                .await
                .map_err(|e| format!("taking a lane: {e}"))?;
            if let Some(r) = taken {
                let token: i64 = r.get(0);
                lock(&shared.state).held.insert(
                    lane.clone(),
                    Held {
                        token,
                        valid_until: sent_at + t.owner_ttl,
                        busy: false,
                        release: false,
                    },
                );
                tracing::info!(sink = %lane.sink, channel = %lane.channel, token, "took a lane");
                woken.push(lane.clone());
            }
        }
        // Replicas gone for a day are forgotten.
        client
            .execute(
                &format!("DELETE FROM hookbridge_replica WHERE seen_at < {DB_NOW_MS} - $1"),
                &[&REPLICA_FORGET_MS],
            )
            .await
            .map_err(|e| format!("forgetting old replicas: {e}"))?;
        Ok::<_, String>(woken)
    };
    let woken = tokio::time::timeout(t.owner_ttl, work)
        .await
        .map_err(|_| "the lease round took longer than the lease".to_string())??;
    let waker = shared
        .waker
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if let Some(wake) = waker {
        for lane in &woken {
            wake(lane);
        }
    }
    Ok(())
}

/// The live replica preferred for `lane` (rendezvous hashing): each lane
/// has one, lanes spread evenly, and a replica joining or leaving moves
/// only its own share.
pub fn preferred<'a>(lane: &Lane, live: &'a [String]) -> Option<&'a str> {
    live.iter()
        .max_by_key(|r| (score(r, lane), r.as_str()))
        .map(String::as_str)
}

/// FNV-1a over the replica and the lane, then a final mix.
fn score(replica: &str, lane: &Lane) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        replica.as_bytes(),
        &[0x1f],
        lane.sink.as_bytes(),
        &[0x1f],
        lane.channel.as_bytes(),
    ] {
        for b in part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    // splitmix64 finaliser: FNV's high bits alone spread poorly
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(i: usize) -> Lane {
        Lane {
            sink: "slack".into(),
            channel: format!("#c{i}"),
        }
    }

    #[test]
    fn lanes_spread_over_replicas_and_only_a_leavers_share_moves() {
        let three: Vec<String> = ["a-1", "b-2", "c-3"].map(String::from).to_vec();
        let two: Vec<String> = three[..2].to_vec();
        let mut counts = HashMap::new();
        for i in 0..300 {
            let l = lane(i);
            let p3 = preferred(&l, &three).unwrap();
            *counts.entry(p3).or_insert(0) += 1;
            let p2 = preferred(&l, &two).unwrap();
            if p3 != "c-3" {
                assert_eq!(p2, p3, "a lane of a replica that stayed moved");
            }
        }
        for r in ["a-1", "b-2", "c-3"] {
            let n = counts[r];
            assert!((60..=140).contains(&n), "{r} got {n} of 300 lanes");
        }
        assert_eq!(preferred(&lane(1), &[]), None);
    }

    #[tokio::test]
    async fn one_service_per_store_holds_every_lane() {
        let l = lane(0);
        assert!(AlwaysHeld.holds(&l));
        let lost = tokio::time::timeout(Duration::from_millis(20), AlwaysHeld.lost(&l)).await;
        assert!(lost.is_err(), "never lost");
    }
}

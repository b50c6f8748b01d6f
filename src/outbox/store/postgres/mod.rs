//! [`PgStore`]: the PostgreSQL implementation of [`Store`], for several
//! replicas on one database.
//!
//! Accepts: a bounded queue to one writer task, which takes what is queued
//! (up to [`MAX_BATCH`] requests) and commits it as one statement: the
//! dedup keys claimed and the rows inserted together, so concurrent
//! requests share one commit, and each caller is answered only after it.
//! The dedup key is the table's primary key, so a delivery accepted by one
//! replica is a duplicate on every other one (a concurrent claim of the
//! same key waits for the first and then sees it). Should the statement
//! fail for one request's data, each request runs alone.
//!
//! Sending: the lane workers of every replica read heads and record
//! outcomes here, fenced by the lane leases of [`crate::outbox::lease`]: a
//! head is read only under a lease this replica holds, and a mark lands
//! only while the lease it was read under is still this replica's.
//!
//! Everything else (listing, replay, depth, health) goes through a small
//! connection pool; every database call has a deadline. Text bound for
//! PostgreSQL has NUL characters replaced with U+FFFD (PostgreSQL text
//! cannot hold them). The URL's password is never logged: errors and logs
//! name the database as `postgres://user@host:port/db`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use super::ThreadIds;
use super::{
    Accepted, DeliveryMeta, Lane, NewMessage, Row, RowId, Status, Store, StoreError, ThreadState,
};
use crate::outbox::lease::{
    DB_NOW_MS, LANES_CHANNEL, LeaseTimings, Leases, PgLeases, SQL_PENDING_LANES,
};

mod schema;

/// Most accepts committed in one statement.
pub const MAX_BATCH: usize = 512;
/// Accepts waiting for the writer; beyond this `accept` answers `Busy`.
const QUEUE_CAPACITY: usize = 4096;
/// Dedup keys and sent rows are kept this long.
const DEDUP_WINDOW_MS: i64 = 7 * 24 * 60 * 60 * 1000;
pub use super::THREAD_WINDOW_MS;
/// Old keys, rows and thread ids are pruned this often...
const PRUNE_INTERVAL: Duration = Duration::from_secs(60);
/// ...at most this many of each per pass...
const PRUNE_BATCH: i64 = 1000;
/// ...and again this soon while a pass finds a full batch.
const PRUNE_CATCH_UP: Duration = Duration::from_secs(1);
/// Only one replica prunes at a time (advisory lock key, "hbprune").
const PRUNE_LOCK: i64 = 0x0068_6270_7275_6e65;
/// Every database call answers within this, or fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections per replica.
const POOL_SIZE: usize = 16;

/// Unix milliseconds; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

/// How to open a [`PgStore`].
#[derive(Clone)]
pub struct PgOptions {
    /// Create or upgrade the schema (the service); the tools only check it.
    pub upgrade: bool,
    /// Share the lanes with other replicas through leases (the service);
    /// `None`: no lanes are sent through this store (the tools).
    pub leases: Option<LeaseTimings>,
    /// Prune old rows in the background (the service).
    pub prune: bool,
    pub clock: Option<Clock>,
}

impl PgOptions {
    /// What `hookbridge serve` opens.
    pub fn service() -> PgOptions {
        PgOptions {
            upgrade: true,
            leases: Some(LeaseTimings::DEFAULT),
            prune: true,
            clock: None,
        }
    }

    /// What `deliveries` and `replay` open.
    pub fn tool() -> PgOptions {
        PgOptions {
            upgrade: false,
            leases: None,
            prune: false,
            clock: None,
        }
    }
}

/// How many of each kind a prune pass deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub dedup_keys: u64,
    pub sent_rows: u64,
    pub threads: u64,
}

/// PostgreSQL, shared by several replicas. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.inner.display)
            .finish_non_exhaustive()
    }
}

struct Inner {
    pool: Pool,
    sender: mpsc::Sender<Request>,
    leases: Option<Arc<PgLeases>>,
    clock: Clock,
    commits: Arc<AtomicU64>,
    /// `postgres://user@host:port/db`: the URL without its password.
    display: String,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

struct Request {
    meta: DeliveryMeta,
    messages: Vec<NewMessage>,
    reply: oneshot::Sender<Result<Accepted, StoreError>>,
}

/// True for a `postgres://` or `postgresql://` URL.
pub fn is_postgres_url(s: &str) -> bool {
    let s = s.trim_start();
    ["postgres://", "postgresql://"]
        .iter()
        .any(|p| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p))
}

/// A store as it may be shown: a PostgreSQL URL without its password,
/// anything else (a file path, `:memory:`) as it is.
pub fn shown(store: &str) -> Cow<'_, str> {
    if is_postgres_url(store) {
        Cow::Owned(redacted(store))
    } else {
        Cow::Borrowed(store)
    }
}

/// The database a URL names, without its password.
pub fn redacted(url: &str) -> String {
    match tokio_postgres::Config::from_str(url) {
        Ok(c) => describe(&c),
        Err(_) => "postgres://(unreadable URL)".into(),
    }
}

fn describe(c: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = c.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = c.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}:{port}/{db}")
}

/// A PostgreSQL error with what was being done, and never the URL.
pub(crate) fn pg_error(what: &str, e: &tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Database(format!(
            "PostgreSQL, {what}: {} ({})",
            db.message(),
            db.code().code()
        )),
        None => StoreError::Database(format!("PostgreSQL, {what}: {e}")),
    }
}

fn pool_error(e: &deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg_error("connecting", e),
        other => StoreError::Database(format!("PostgreSQL: no connection: {other}")),
    }
}

fn too_slow(what: &str) -> StoreError {
    StoreError::Busy(format!(
        "PostgreSQL did not answer within {}s ({what})",
        CALL_TIMEOUT.as_secs()
    ))
}

/// PostgreSQL text cannot hold NUL.
fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

impl PgStore {
    /// Connects to the database `url` names. `upgrade` (the service)
    /// creates or upgrades the schema, shares the lanes through leases and
    /// prunes; otherwise (the tools) the schema must be there already.
    pub async fn connect(url: &str, upgrade: bool) -> Result<PgStore, StoreError> {
        let opts = if upgrade {
            PgOptions::service()
        } else {
            PgOptions::tool()
        };
        Self::connect_with(url, opts).await
    }

    pub async fn connect_with(url: &str, opts: PgOptions) -> Result<PgStore, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|_| {
            StoreError::Database(
                "the PostgreSQL URL cannot be read; expected postgres://user:password@host:port/database"
                    .into(),
            )
        })?;
        let display = describe(&config);
        config
            .application_name("hookbridge")
            .connect_timeout(Duration::from_secs(5))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .tcp_user_timeout(Duration::from_secs(10));
        let listen = config.clone();
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CALL_TIMEOUT))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| StoreError::Database(format!("PostgreSQL pool: {e}")))?;
        let clock = opts.clock.clone().unwrap_or_else(system_clock);
        let context = |e: StoreError| match e {
            StoreError::Database(m) | StoreError::Busy(m) => {
                StoreError::Database(format!("cannot open the store at {display}: {m}"))
            }
            other => other,
        };
        {
            let mut client = pool.get().await.map_err(|e| context(pool_error(&e)))?;
            if opts.upgrade {
                schema::migrate(&mut client, clock())
                    .await
                    .map_err(context)?;
            } else {
                schema::check_only(&client).await.map_err(context)?;
            }
        }
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        // Replicas hear of each other's accepts: the lane's owner sends at once.
        let (announce, announced) = mpsc::unbounded_channel();
        let announce = opts.leases.is_some().then_some(announce);
        let mut tasks = vec![tokio::spawn(writer(
            pool.clone(),
            receiver,
            commits.clone(),
            clock.clone(),
            announce,
        ))];
        if opts.leases.is_some() {
            tasks.push(tokio::spawn(announcer(pool.clone(), announced)));
        }
        if opts.prune {
            tasks.push(tokio::spawn(pruner(pool.clone(), clock.clone())));
        }
        let leases = opts
            .leases
            .map(|t| PgLeases::start(pool.clone(), Some(listen), t));
        let named = display.clone();
        tracing::info!(database = %named, "store: PostgreSQL");
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                sender,
                leases,
                clock,
                commits,
                display,
                tasks,
            }),
        })
    }

    /// The database, without the URL's password.
    pub fn database(&self) -> &str {
        &self.inner.display
    }

    /// This replica's lane leases (`None` for the tools).
    pub fn lane_leases(&self) -> Option<Arc<PgLeases>> {
        self.inner.leases.clone()
    }

    /// How many accept statements the writer has committed: with group
    /// commit, far fewer than the accepts under concurrent load.
    pub fn commit_count(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        get_client(&self.inner.pool).await
    }

    /// One prune pass now: dedup keys and sent rows older than 7 days,
    /// thread ids older than 90 days, at most 1,000 of each. Skipped
    /// (all zero) while another replica prunes.
    pub async fn prune(&self) -> Result<Pruned, StoreError> {
        prune(&self.inner.pool, (self.inner.clock)()).await
    }
}

/// Upserts thread ids (and cards, where given) of `lane`.
async fn put_threads_in(
    client: &impl deadpool_postgres::GenericClient,
    lane: &Lane,
    threads: &[(String, ThreadState)],
    now: i64,
) -> Result<(), tokio_postgres::Error> {
    for (key, state) in threads {
        let thread_id = state.ids.thread_id.as_deref().map(text);
        let card = state.card.as_deref().map(text);
        client
            .execute(
                "INSERT INTO hookbridge_thread (sink, channel, thread_key, message_id, thread_id, card, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (sink, channel, thread_key) DO UPDATE
                    SET message_id = excluded.message_id, thread_id = excluded.thread_id,
                        card = coalesce(excluded.card, hookbridge_thread.card),
                        updated_at = excluded.updated_at",
                &[
                    &text(&lane.sink),
                    &text(&lane.channel),
                    &text(key),
                    &text(&state.ids.message_id),
                    &thread_id,
                    &card,
                    &now,
                ],
            )
            .await?;
    }
    Ok(())
}

async fn get_client(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    match tokio::time::timeout(CALL_TIMEOUT, pool.get()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(pool_error(&e)),
        Err(_) => Err(too_slow("connecting")),
    }
}

/// Runs one database call with the deadline.
async fn bounded<T>(
    what: &str,
    call: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(pg_error(what, &e)),
        Err(_) => Err(too_slow(what)),
    }
}

/// The accept writer: group commit.
async fn writer(
    pool: Pool,
    mut receiver: mpsc::Receiver<Request>,
    commits: Arc<AtomicU64>,
    clock: Clock,
    announce: Option<mpsc::UnboundedSender<Vec<Lane>>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        // What queued up meanwhile (during the previous commit, too): that
        // is the group commit.
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let results = accept_batch(&pool, &batch, clock(), &commits).await;
        if let Some(announce) = &announce {
            let lanes: Vec<Lane> = batch
                .iter()
                .zip(&results)
                .filter(|(_, r)| matches!(r, Ok(Accepted::Stored(_))))
                .flat_map(|(req, _)| req.messages.iter().map(|m| m.lane.clone()))
                .collect();
            if !lanes.is_empty() {
                let _ = announce.send(lanes);
            }
        }
        for (request, result) in batch.drain(..).zip(results) {
            let _ = request.reply.send(result);
        }
    }
}

/// Answers every request of `batch`, in order.
async fn accept_batch(
    pool: &Pool,
    batch: &[Request],
    now: i64,
    commits: &AtomicU64,
) -> Vec<Result<Accepted, StoreError>> {
    // Each round holds one request per dedup key: a key twice in a batch
    // (a redelivery racing its original) is claimed by the first, and the
    // second then finds it, or claims it if the first failed.
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, r) in batch.iter().enumerate() {
        let n = seen
            .entry((&r.meta.source, &r.meta.delivery_id))
            .or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(i);
        *n += 1;
    }
    let mut results: Vec<Option<Result<Accepted, StoreError>>> =
        batch.iter().map(|_| None).collect();
    for round in rounds {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match run_accepts(pool, batch, &round, now).await {
                Ok(done) => {
                    commits.fetch_add(1, Ordering::Relaxed);
                    for (i, a) in done {
                        results[i] = Some(Ok(a));
                    }
                }
                // Two replicas' batches crossed: once more.
                Err(Failure::Conflict(_)) if attempt < 3 => continue,
                // One request's data: each alone, so the others still go in.
                Err(Failure::Data(_)) if round.len() > 1 => {
                    for &i in &round {
                        let alone = match run_accepts(pool, batch, &[i], now).await {
                            Ok(mut done) => {
                                commits.fetch_add(1, Ordering::Relaxed);
                                done.pop().map(|(_, a)| Ok(a)).unwrap_or_else(|| {
                                    Err(StoreError::Database(
                                        "store: no answer for a request".into(),
                                    ))
                                })
                            }
                            Err(f) => Err(f.into_error()),
                        };
                        results[i] = Some(alone);
                    }
                }
                Err(f) => {
                    let e = f.into_error();
                    let msg = e.to_string();
                    for &i in &round {
                        results[i] = Some(Err(match &e {
                            StoreError::Busy(_) => StoreError::Busy(msg.clone()),
                            _ => StoreError::Database(msg.clone()),
                        }));
                    }
                }
            }
            break;
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(StoreError::Database("store: request not run".into()))))
        .collect()
}

/// Why a batch statement failed, as far as retrying goes.
enum Failure {
    /// Serialization failure or deadlock: run it again.
    Conflict(StoreError),
    /// A request's data was refused: run each request alone.
    Data(StoreError),
    /// The database is unreachable, slow, or refused everything.
    Other(StoreError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Failure::Conflict(e) | Failure::Data(e) | Failure::Other(e) => e,
        }
    }
}

fn classify(e: &tokio_postgres::Error) -> Failure {
    let err = pg_error("accepting deliveries", e);
    let Some(code) = e.code() else {
        return Failure::Other(err);
    };
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        return Failure::Conflict(err);
    }
    // 22: data exception, 23: integrity, 54: program limit (a key too long to index)
    match code.code().get(..2) {
        Some("22" | "23" | "54") => Failure::Data(err),
        _ => Failure::Other(err),
    }
}

/// Claims the dedup keys of `idx` and inserts the rows of those claimed,
/// in one statement (one commit).
const SQL_ACCEPT: &str = "
WITH k AS (
    INSERT INTO hookbridge_dedup AS d (source, delivery_id, seen_at)
    SELECT s, i, $3 FROM unnest($1::text[], $2::text[]) AS t(s, i) ORDER BY s, i
    ON CONFLICT (source, delivery_id) DO UPDATE SET seen_at = excluded.seen_at
        WHERE d.seen_at <= $4
    RETURNING source, delivery_id
), r AS (
    INSERT INTO hookbridge_outbox (source, delivery_id, kind, repo, sink, channel, message,
                                   status, attempts, next_attempt_at, created_at, queued_at)
    SELECT m.source, m.delivery_id, m.kind, m.repo, m.sink, m.channel, m.message,
           'pending', 0, $3, $3, $3
      FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
           WITH ORDINALITY AS m(source, delivery_id, kind, repo, sink, channel, message, ord)
      JOIN k USING (source, delivery_id)
     ORDER BY m.ord
    RETURNING id, source, delivery_id
)
SELECT source, delivery_id, NULL::int8 FROM k
UNION ALL
SELECT source, delivery_id, id FROM r";

async fn run_accepts(
    pool: &Pool,
    batch: &[Request],
    idx: &[usize],
    now: i64,
) -> Result<Vec<(usize, Accepted)>, Failure> {
    let mut key_source = Vec::with_capacity(idx.len());
    let mut key_id = Vec::with_capacity(idx.len());
    let mut cols: [Vec<Cow<'_, str>>; 7] = Default::default();
    let mut by_key: HashMap<(String, String), usize> = HashMap::with_capacity(idx.len());
    for &i in idx {
        let meta = &batch[i].meta;
        let (source, id) = (text(&meta.source), text(&meta.delivery_id));
        by_key.insert((source.to_string(), id.to_string()), i);
        for m in &batch[i].messages {
            cols[0].push(source.clone());
            cols[1].push(id.clone());
            cols[2].push(text(&meta.kind));
            cols[3].push(text(&meta.repo));
            cols[4].push(text(&m.lane.sink));
            cols[5].push(text(&m.lane.channel));
            cols[6].push(text(&m.message));
        }
        key_source.push(source);
        key_id.push(id);
    }
    let client = get_client(pool).await.map_err(Failure::Other)?;
    let cutoff = now - DEDUP_WINDOW_MS;
    let stmt = client
        .prepare_cached(SQL_ACCEPT)
        .await
        .map_err(|e| classify(&e))?;
    let rows = match tokio::time::timeout(
        CALL_TIMEOUT,
        client.query(
            &stmt,
            &[
                &key_source,
                &key_id,
                &now,
                &cutoff,
                &cols[0],
                &cols[1],
                &cols[2],
                &cols[3],
                &cols[4],
                &cols[5],
                &cols[6],
            ],
        ),
    )
    .await
    {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return Err(classify(&e)),
        Err(_) => return Err(Failure::Other(too_slow("accepting deliveries"))),
    };
    let mut claimed: HashMap<usize, Vec<RowId>> = HashMap::new();
    for r in rows {
        let key = (r.get::<_, String>(0), r.get::<_, String>(1));
        let id: Option<i64> = r.get(2);
        let Some(&i) = by_key.get(&key) else {
            continue;
        };
        let ids = claimed.entry(i).or_default();
        if let Some(id) = id {
            ids.push(id);
        }
    }
    Ok(idx
        .iter()
        .map(|&i| match claimed.remove(&i) {
            Some(mut ids) => {
                // inserted in message order, so ids ascend in it
                ids.sort_unstable();
                (i, Accepted::Stored(ids))
            }
            None => (i, Accepted::Duplicate),
        })
        .collect())
}

/// Announces the lanes of committed accepts to the other replicas
/// (`NOTIFY`, after the commit, off the accept path), what queued up
/// meanwhile in one go.
async fn announcer(pool: Pool, mut announced: mpsc::UnboundedReceiver<Vec<Lane>>) {
    while let Some(first) = announced.recv().await {
        let mut lanes: std::collections::BTreeSet<Lane> = first.into_iter().collect();
        while let Ok(more) = announced.try_recv() {
            lanes.extend(more);
        }
        let Ok(client) = get_client(&pool).await else {
            continue; // the owners' polls find the rows
        };
        announce(&client, &lanes).await;
    }
}

/// `NOTIFY`s `lanes` on [`LANES_CHANNEL`]; best effort (the owners also poll).
async fn announce(client: &deadpool_postgres::Object, lanes: &std::collections::BTreeSet<Lane>) {
    // A NOTIFY payload must stay under 8,000 bytes.
    const MAX_PAYLOAD: usize = 7000;
    let mut payloads = Vec::new();
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    let mut size = 2;
    for l in lanes {
        let len =
            serde_json::to_string(&(&l.sink, &l.channel)).map_or(usize::MAX / 2, |j| j.len() + 1);
        if len + 2 > MAX_PAYLOAD {
            continue; // a name that long is never announced; the owner's poll finds it
        }
        if size + len > MAX_PAYLOAD {
            payloads.push(serde_json::to_string(&pairs).unwrap_or_default());
            pairs.clear();
            size = 2;
        }
        pairs.push((&l.sink, &l.channel));
        size += len;
    }
    if !pairs.is_empty() {
        payloads.push(serde_json::to_string(&pairs).unwrap_or_default());
    }
    for p in payloads {
        let _ = bounded("announcing lanes", async {
            client
                .execute("SELECT pg_notify($1, $2)", &[&LANES_CHANNEL, &p])
                .await
        })
        .await;
    }
}

fn lanes_of(rows: &[tokio_postgres::Row]) -> std::collections::BTreeSet<Lane> {
    rows.iter()
        .map(|r| Lane {
            sink: r.get(0),
            channel: r.get(1),
        })
        .collect()
}

/// Prunes every [`PRUNE_INTERVAL`], sooner while behind.
async fn pruner(pool: Pool, clock: Clock) {
    loop {
        let wait = match prune(&pool, clock()).await {
            Ok(p) => {
                if p.dedup_keys + p.sent_rows + p.threads > 0 {
                    tracing::debug!(
                        keys = p.dedup_keys,
                        rows = p.sent_rows,
                        threads = p.threads,
                        "pruned"
                    );
                }
                let full = |n: u64| n >= PRUNE_BATCH as u64;
                if full(p.dedup_keys) || full(p.sent_rows) || full(p.threads) {
                    PRUNE_CATCH_UP
                } else {
                    PRUNE_INTERVAL
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "pruning old rows failed; trying again later");
                PRUNE_INTERVAL
            }
        };
        tokio::time::sleep(wait).await;
    }
}

async fn prune(pool: &Pool, now: i64) -> Result<Pruned, StoreError> {
    let mut client = get_client(pool).await?;
    bounded("pruning", async {
        let tx = client.transaction().await?;
        let locked: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])
            .await?
            .get(0);
        if !locked {
            return Ok(Pruned::default());
        }
        let old = now - DEDUP_WINDOW_MS;
        let dedup_keys = tx
            .execute(
                "DELETE FROM hookbridge_dedup WHERE (source, delivery_id) IN
                   (SELECT source, delivery_id FROM hookbridge_dedup WHERE seen_at <= $1
                     ORDER BY seen_at LIMIT $2)",
                &[&old, &PRUNE_BATCH],
            )
            .await?;
        // Dead rows stay until replayed.
        let sent_rows = tx
            .execute(
                "DELETE FROM hookbridge_outbox WHERE id IN
                   (SELECT id FROM hookbridge_outbox WHERE status = 'sent' AND created_at <= $1
                     ORDER BY created_at LIMIT $2)",
                &[&old, &PRUNE_BATCH],
            )
            .await?;
        let threads = tx
            .execute(
                "DELETE FROM hookbridge_thread WHERE (sink, channel, thread_key) IN
                   (SELECT sink, channel, thread_key FROM hookbridge_thread WHERE updated_at <= $1
                     ORDER BY updated_at LIMIT $2)",
                &[&(now - THREAD_WINDOW_MS), &PRUNE_BATCH],
            )
            .await?;
        // Leases given back long ago, of lanes with nothing pending.
        tx.execute(
            &format!(
                "DELETE FROM hookbridge_lease l WHERE l.owner = '' AND l.expires_at < {DB_NOW_MS} - $1
                   AND NOT EXISTS (SELECT 1 FROM hookbridge_outbox o
                                    WHERE o.status = 'pending' AND o.sink = l.sink AND o.channel = l.channel)"
            ),
            &[&DEDUP_WINDOW_MS],
        )
        .await?;
        tx.commit().await?;
        Ok(Pruned {
            dedup_keys,
            sent_rows,
            threads,
        })
    })
    .await
}

macro_rules! row_columns {
    () => {
        "id, source, delivery_id, kind, repo, sink, channel, message, status, attempts, \
         next_attempt_at, last_error, created_at, queued_at"
    };
}

const SQL_HEAD: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM hookbridge_outbox WHERE status = 'pending' AND sink = $1 AND channel = $2 \
     ORDER BY id LIMIT 1"
);

/// The head, only while the lease ($3 owner, $4 token) stands.
fn sql_head_fenced() -> String {
    format!(
        "{SQL_HEAD_NO_LIMIT} AND EXISTS (SELECT 1 FROM hookbridge_lease l \
         WHERE l.sink = $1 AND l.channel = $2 AND l.owner = $3 AND l.token = $4 \
           AND l.expires_at > {DB_NOW_MS}) ORDER BY id LIMIT 1"
    )
}
const SQL_HEAD_NO_LIMIT: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM hookbridge_outbox WHERE status = 'pending' AND sink = $1 AND channel = $2"
);

/// A mark lands only on a lane this replica holds: $2 owner (NULL: the
/// tools, unfenced), $3 token (-1: any token of that owner).
const FENCE: &str = "($2::text IS NULL OR EXISTS (SELECT 1 FROM hookbridge_lease l \
     WHERE l.sink = o.sink AND l.channel = o.channel AND l.owner = $2 \
       AND ($3::int8 < 0 OR l.token = $3)))";

fn row_from_pg(r: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let status: String = r.get(8);
    let status = Status::parse(&status)
        .ok_or_else(|| StoreError::Database(format!("unknown outbox status {status:?}")))?;
    let attempts: i32 = r.get(9);
    Ok(Row {
        id: r.get(0),
        source: r.get(1),
        delivery_id: r.get(2),
        kind: r.get(3),
        repo: r.get(4),
        lane: Lane {
            sink: r.get(5),
            channel: r.get(6),
        },
        message: r.get(7),
        status,
        attempts: u32::try_from(attempts).unwrap_or(0),
        next_attempt_at: r.get(10),
        last_error: r.get(11),
        created_at: r.get(12),
        queued_at: r.get(13),
    })
}

impl PgStore {
    /// Runs one fenced mark of row `id`: `set` is the SET clause, `extra`
    /// its parameters from `$4` on.
    async fn mark(
        &self,
        id: RowId,
        set: &str,
        extra: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), StoreError> {
        self.mark_keeping(id, set, extra, None).await
    }

    /// [`PgStore::mark`], keeping thread ids of `lane` in the same
    /// transaction when the row was marked.
    async fn mark_keeping(
        &self,
        id: RowId,
        set: &str,
        extra: &[&(dyn tokio_postgres::types::ToSql + Sync)],
        threads: Option<(&Lane, &[(String, ThreadState)])>,
    ) -> Result<(), StoreError> {
        let (owner, token) = match &self.inner.leases {
            Some(l) => {
                let (o, t) = l.mark_fence(id);
                (Some(o), t)
            }
            None => (None, -1),
        };
        let sql = format!("UPDATE hookbridge_outbox o SET {set} WHERE o.id = $1 AND {FENCE}");
        let mut client = self.client().await?;
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&id, &owner, &token];
        params.extend_from_slice(extra);
        let now = (self.inner.clock)();
        let changed = bounded("recording a send", async {
            let tx = client.transaction().await?;
            let stmt = tx.prepare_cached(&sql).await?;
            let changed = tx.execute(&stmt, &params).await?;
            if changed > 0
                && let Some((lane, threads)) = threads
            {
                put_threads_in(&tx, lane, threads, now).await?;
            }
            tx.commit().await?;
            Ok(changed)
        })
        .await?;
        if changed > 0 {
            if let Some(l) = &self.inner.leases {
                l.marked(id, false);
            }
            return Ok(());
        }
        let exists: bool = bounded("recording a send", async {
            client
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM hookbridge_outbox WHERE id = $1)",
                    &[&id],
                )
                .await
        })
        .await?
        .get(0);
        if !exists {
            return Err(StoreError::NoRow(id));
        }
        if let Some(l) = &self.inner.leases {
            l.marked(id, true);
        }
        Err(StoreError::LeaseLost(format!(
            "row {id}: its lane is another replica's now"
        )))
    }
}

#[async_trait]
impl Store for PgStore {
    async fn accept(
        &self,
        meta: DeliveryMeta,
        messages: Vec<NewMessage>,
    ) -> Result<Accepted, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .sender
            .try_send(Request {
                meta,
                messages,
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Busy(format!(
                    "write queue is full ({QUEUE_CAPACITY} requests waiting)"
                )),
                mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
            })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn head(&self, lane: &Lane) -> Result<Option<Row>, StoreError> {
        let fence = match &self.inner.leases {
            Some(l) => match l.head_fence(lane) {
                Some(f) => Some(f),
                None => return Ok(None),
            },
            None => None,
        };
        let client = self.client().await?;
        let (sink, channel) = (text(&lane.sink), text(&lane.channel));
        let row = match &fence {
            Some((owner, token)) => {
                let sql = sql_head_fenced();
                bounded("reading a lane", async {
                    let stmt = client.prepare_cached(&sql).await?;
                    client
                        .query_opt(&stmt, &[&sink, &channel, owner, token])
                        .await
                })
                .await?
            }
            None => {
                bounded("reading a lane", async {
                    let stmt = client.prepare_cached(SQL_HEAD).await?;
                    client.query_opt(&stmt, &[&sink, &channel]).await
                })
                .await?
            }
        };
        let row = row.as_ref().map(row_from_pg).transpose()?;
        if let (Some(l), Some((_, token))) = (&self.inner.leases, fence) {
            let now = (self.inner.clock)();
            let due = row.as_ref().map(|r| (r.id, r.next_attempt_at <= now));
            if !l.handed_out(lane, token, due) {
                return Ok(None);
            }
        }
        Ok(row)
    }

    async fn mark_sent(&self, id: RowId) -> Result<(), StoreError> {
        self.mark(id, "status = 'sent', attempts = o.attempts + 1", &[])
            .await
    }

    async fn mark_sent_thread(
        &self,
        id: RowId,
        lane: &Lane,
        threads: &[(String, ThreadState)],
    ) -> Result<(), StoreError> {
        self.mark_keeping(
            id,
            "status = 'sent', attempts = o.attempts + 1",
            &[],
            Some((lane, threads)),
        )
        .await
    }

    async fn mark_posted(
        &self,
        id: RowId,
        posted: &str,
        lane: &Lane,
        threads: &[(String, ThreadState)],
    ) -> Result<(), StoreError> {
        let posted = text(posted);
        self.mark_keeping(
            id,
            "status = 'sent', attempts = o.attempts + 1, message = $4",
            &[&posted],
            Some((lane, threads)),
        )
        .await
    }

    async fn thread_state(
        &self,
        lane: &Lane,
        key: &str,
    ) -> Result<Option<ThreadState>, StoreError> {
        let now = (self.inner.clock)();
        let client = self.client().await?;
        let row = bounded("reading thread ids", async {
            client
                .query_opt(
                    "SELECT message_id, thread_id, card FROM hookbridge_thread
                     WHERE sink = $1 AND channel = $2 AND thread_key = $3 AND updated_at > $4",
                    &[
                        &text(&lane.sink),
                        &text(&lane.channel),
                        &text(key),
                        &(now - THREAD_WINDOW_MS),
                    ],
                )
                .await
        })
        .await?;
        Ok(row.map(|r| ThreadState {
            ids: ThreadIds {
                message_id: r.get(0),
                thread_id: r.get(1),
            },
            card: r.get(2),
        }))
    }

    async fn put_threads(
        &self,
        lane: &Lane,
        threads: &[(String, ThreadState)],
    ) -> Result<(), StoreError> {
        let now = (self.inner.clock)();
        let client = self.client().await?;
        bounded(
            "keeping thread ids",
            put_threads_in(&client, lane, threads, now),
        )
        .await
    }

    async fn mark_retry(
        &self,
        id: RowId,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let error = text(error);
        self.mark(
            id,
            "attempts = o.attempts + 1, next_attempt_at = $4, last_error = $5",
            &[&next_attempt_at, &error],
        )
        .await
    }

    async fn mark_dead(&self, id: RowId, error: &str) -> Result<(), StoreError> {
        let error = text(error);
        self.mark(
            id,
            "status = 'dead', attempts = o.attempts + 1, last_error = $4",
            &[&error],
        )
        .await
    }

    async fn pending_lanes(&self) -> Result<Vec<Lane>, StoreError> {
        let client = self.client().await?;
        let rows = bounded("listing pending lanes", async {
            client.query(SQL_PENDING_LANES, &[]).await
        })
        .await?;
        Ok(rows
            .iter()
            .map(|r| Lane {
                sink: r.get(0),
                channel: r.get(1),
            })
            .collect())
    }

    async fn list(&self, status: Option<Status>, limit: usize) -> Result<Vec<Row>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.client().await?;
        let rows = bounded("listing rows", async {
            match status {
                Some(s) => client
                    .query(
                        concat!(
                            "SELECT ",
                            row_columns!(),
                            " FROM hookbridge_outbox WHERE status = $1 ORDER BY id DESC LIMIT $2"
                        ),
                        &[&s.as_str(), &limit],
                    )
                    .await,
                None => {
                    client
                        .query(
                            concat!(
                                "SELECT ",
                                row_columns!(),
                                " FROM hookbridge_outbox ORDER BY id DESC LIMIT $1"
                            ),
                            &[&limit],
                        )
                        .await
                }
            }
        })
        .await?;
        rows.iter().map(row_from_pg).collect()
    }

    async fn replay(&self, ids: &[RowId]) -> Result<usize, StoreError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let now = (self.inner.clock)();
        let client = self.client().await?;
        let rows = bounded("replaying rows", async {
            client
                .query(
                    "UPDATE hookbridge_outbox SET status = 'pending', attempts = 0,
                            next_attempt_at = $2, queued_at = $2
                      WHERE id = ANY($1) RETURNING sink, channel",
                    &[&ids, &now],
                )
                .await
        })
        .await?;
        announce(&client, &lanes_of(&rows)).await;
        Ok(rows.len())
    }

    async fn replay_dead(&self) -> Result<usize, StoreError> {
        let now = (self.inner.clock)();
        let client = self.client().await?;
        let rows = bounded("replaying dead rows", async {
            client
                .query(
                    "UPDATE hookbridge_outbox SET status = 'pending', attempts = 0,
                            next_attempt_at = $1, queued_at = $1
                      WHERE status = 'dead' RETURNING sink, channel",
                    &[&now],
                )
                .await
        })
        .await?;
        announce(&client, &lanes_of(&rows)).await;
        Ok(rows.len())
    }

    async fn depth_by_sink(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.client().await?;
        let rows = bounded("counting pending rows", async {
            client
                .query(
                    "SELECT sink, count(*) FROM hookbridge_outbox WHERE status = 'pending'
                     GROUP BY sink ORDER BY sink",
                    &[],
                )
                .await
        })
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let n: i64 = r.get(1);
                (r.get(0), u64::try_from(n).unwrap_or(0))
            })
            .collect())
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        let now = (self.inner.clock)().to_string();
        let client = self.client().await?;
        bounded("checking writes", async {
            client
                .execute(
                    "INSERT INTO hookbridge_meta (key, value) VALUES ('write_checked_at', $1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    &[&now],
                )
                .await
        })
        .await
        .map(|_| ())
    }

    fn leases(&self) -> Arc<dyn Leases> {
        match &self.inner.leases {
            Some(l) => l.clone(),
            None => Arc::new(crate::outbox::lease::AlwaysHeld),
        }
    }
}

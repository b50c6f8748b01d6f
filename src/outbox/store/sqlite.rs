//! [`SqliteStore`]: the SQLite implementation of [`Store`].
//!
//! Writes: every write is a request on a bounded queue to one writer thread
//! that owns the write connection. The thread takes what is queued (up to
//! [`MAX_BATCH`] requests), runs it in one `BEGIN IMMEDIATE` transaction
//! (should a request fail, the batch runs again with each request in its
//! own savepoint, so one failing request does not undo the others), commits
//! once, and only then answers each caller. With `synchronous=FULL` an
//! answered `accept` is on disk.
//!
//! Reads: a separate read-only connection (WAL lets it read while the writer
//! writes), used from `spawn_blocking` so the reactor never waits on SQLite.
//! In memory (`open_memory`) the writer and the reads share the one
//! connection, since a `:memory:` database is private to its connection.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::types::Type;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior, params};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::{Checkpointer, Thresholds};
use super::journal::Journal;
use super::schema;
use super::watch::{self, FileWatch};
use super::{
    Accepted, DeliveryMeta, Lane, NewMessage, Row, RowId, Status, Store, StoreError,
    THREAD_WINDOW_MS, ThreadIds, ThreadState, Verdict,
};

/// Most requests committed in one transaction.
pub(super) const MAX_BATCH: usize = 512;
/// Under concurrent load a commit starts at most this often after the
/// previous one. A commit writes every page it touched to the WAL, and a
/// commit of many requests shares those pages (the table's last page, the
/// indexes' last pages): fewer, larger commits write and sync less. A writer
/// whose last batch held one request commits at once, so requests that come
/// one at a time are never held back.
pub(super) const COMMIT_INTERVAL: Duration = Duration::from_millis(1);
/// Write requests waiting for the writer; beyond this `accept` answers `Busy`.
pub(super) const QUEUE_CAPACITY: usize = 4096;
/// Dedup keys are kept this long.
pub(super) const DEDUP_WINDOW_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Old dedup keys and sent rows are deleted at most this often...
pub(super) const PRUNE_INTERVAL_MS: i64 = 60 * 1000;
/// ...at most this many of each per pass, so a pass never holds the
/// writer long...
pub(super) const PRUNE_BATCH: usize = 1000;
/// ...and, while a pass still finds a full batch, again this soon, so
/// pruning catches up with any backlog (after downtime, or a busy sink).
pub(super) const PRUNE_CATCH_UP_MS: i64 = 1000;

/// Unix milliseconds; replaceable in tests.
pub(super) type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_clock() -> Clock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

/// SQLite in WAL mode with `synchronous=FULL`.
///
/// Cheap to clone: clones share one writer thread and one read connection.
/// When the last clone is dropped, the writer finishes the queued requests,
/// commits them and the thread ends (the drop waits for it, at most one
/// batch).
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("commits", &self.commit_count())
            .finish_non_exhaustive()
    }
}

struct Inner {
    /// `None` only while dropping.
    sender: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    /// The write connection (held by the writer thread for each batch);
    /// kept here only for the tests' pause hook.
    #[cfg(test)]
    write_conn: Arc<Mutex<Connection>>,
    /// The read connection; the same `Arc` as `write_conn` in memory.
    read_conn: Arc<Mutex<Connection>>,
    commits: Arc<AtomicU64>,
    /// The clock (the writer's too), for reads that hide old thread ids.
    clock: Clock,
    /// Checkpoints the WAL of a file store; `None` in memory.
    checkpointer: Option<Checkpointer>,
    /// Notices the files of a file store removed or replaced; `None` in
    /// memory.
    watch: Option<FileWatch>,
    /// The service's outcome journal; `None` in memory and for the tools.
    journal: Option<Arc<Journal>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue lets the writer drain what is left, then stop.
        drop(self.sender.take());
        if let Some(handle) = self.writer.take()
            && handle.join().is_err()
        {
            tracing::error!("outbox store writer thread panicked");
        }
        // After the writer: its last commits may still ask for a checkpoint.
        drop(self.checkpointer.take());
    }
}

/// One write, as sent to the writer thread.
enum Op {
    Accept {
        meta: DeliveryMeta,
        messages: Vec<NewMessage>,
    },
    MarkSent {
        id: RowId,
    },
    /// Marks a row sent (keeping `posted` as its message, when given) and
    /// keeps thread ids of its lane (may be none: then only thread ids are
    /// kept, for `id` 0).
    Threads {
        id: Option<RowId>,
        posted: Option<String>,
        lane: Lane,
        threads: Vec<(String, ThreadState)>,
    },
    MarkRetry {
        id: RowId,
        next_attempt_at: i64,
        error: String,
    },
    MarkDead {
        id: RowId,
        error: String,
    },
    Replay {
        ids: Vec<RowId>,
    },
    ReplayDead,
    Touch,
}

/// What the writer thread did with one request.
enum Written {
    Accepted(Accepted),
    Count(usize),
    Done,
}

struct Request {
    op: Op,
    reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// Where the database lives.
enum Location<'a> {
    File(&'a Path),
    Memory,
}

impl SqliteStore {
    /// Opens (creating or upgrading) the store file: for the service.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(
            Location::File(path),
            system_clock(),
            Thresholds::DEFAULT,
            true,
        )
    }

    /// Opens (creating) the store file, refusing one of an older schema
    /// with [`StoreError::SchemaTooOld`]: for the command-line tools, which
    /// may run beside a service of the older version.
    pub fn open_without_upgrade(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with(
            Location::File(path),
            system_clock(),
            Thresholds::DEFAULT,
            false,
        )
    }

    /// A store in memory: same behaviour, nothing survives the process.
    pub fn open_memory() -> Result<SqliteStore, StoreError> {
        Self::open_with(Location::Memory, system_clock(), Thresholds::DEFAULT, true)
    }

    /// How many write transactions the writer has committed: with group
    /// commit, far fewer than the writes under concurrent load.
    pub fn commit_count(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    fn open_with(
        target: Location<'_>,
        clock: Clock,
        checkpoints: Thresholds,
        upgrade: bool,
    ) -> Result<SqliteStore, StoreError> {
        let (write_conn, read_conn, checkpointer, watch, journal) = match target {
            Location::File(path) => {
                let mut write = open_file(path, true)
                    .and_then(|mut conn| {
                        schema::check_version(&conn)?;
                        schema::configure_wal(&conn)?;
                        schema::migrate(&mut conn, clock(), upgrade)?;
                        Ok(conn)
                    })
                    .map_err(|e| open_context(path, e))?;
                // The service's outcome journal: applied before anything
                // is sent. The tools leave it to the service.
                let journal = if upgrade {
                    Some(Arc::new(apply_journal(path, &mut write)?))
                } else {
                    None
                };
                let checkpointer = Checkpointer::start(path, &mut write, checkpoints)
                    .map_err(|e| open_context(path, e))?;
                let read = open_file(path, false)
                    .and_then(|conn| {
                        conn.pragma_update(None, "query_only", true)?;
                        Ok(conn)
                    })
                    .map_err(|e| open_context(path, e))?;
                let watch = FileWatch::start(path, watch::CHECK_EVERY)?;
                let write = Arc::new(Mutex::new(write));
                (
                    write,
                    Arc::new(Mutex::new(read)),
                    Some(checkpointer),
                    Some(watch),
                    journal,
                )
            }
            Location::Memory => {
                let mut conn = Connection::open_in_memory()?;
                schema::configure_common(&conn)?;
                schema::migrate(&mut conn, clock(), upgrade)?;
                let shared = Arc::new(Mutex::new(conn));
                (Arc::clone(&shared), shared, None, None, None)
            }
        };

        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let commits = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            conn: Arc::clone(&write_conn),
            receiver,
            commits: Arc::clone(&commits),
            clock: clock.clone(),
            last_prune: None,
        };
        let handle = std::thread::Builder::new()
            .name("outbox-store-writer".into())
            .spawn(move || writer.run())
            .map_err(|source| StoreError::Thread {
                name: "writer",
                source,
            })?;

        Ok(SqliteStore {
            inner: Arc::new(Inner {
                sender: Some(sender),
                writer: Some(handle),
                #[cfg(test)]
                write_conn,
                read_conn,
                clock,
                commits,
                checkpointer,
                watch,
                journal,
            }),
        })
    }

    /// Queues one write and waits for its commit. `accept` fails fast with
    /// `Busy` on a full queue (the HTTP layer answers 503); the bookkeeping
    /// writes of the workers wait for room instead, since dropping them
    /// would mean sending a message twice.
    async fn write(&self, op: Op, wait_for_room: bool) -> Result<Written, StoreError> {
        let sender = self.inner.sender.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = oneshot::channel();
        let request = Request { op, reply };
        if wait_for_room {
            sender.send(request).await.map_err(|_| StoreError::Closed)?;
        } else {
            sender.try_send(request).map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => StoreError::Busy(format!(
                    "write queue is full ({QUEUE_CAPACITY} requests waiting)"
                )),
                mpsc::error::TrySendError::Closed(_) => StoreError::Closed,
            })?;
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs a read on the read connection, off the async runtime.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.inner.read_conn);
        tokio::task::spawn_blocking(move || f(&lock(&conn)).map_err(store_error))
            .await
            .map_err(StoreError::Read)?
    }

    /// Test hook: whether the watch found the files removed or replaced.
    #[cfg(test)]
    pub(super) fn files_lost(&self) -> bool {
        self.inner
            .watch
            .as_ref()
            .is_some_and(|w| w.lost().is_some())
    }

    /// Test hook: holds the writer's connection so requests pile up.
    #[cfg(test)]
    pub(super) fn pause_writer(&self) -> MutexGuard<'_, Connection> {
        lock(&self.inner.write_conn)
    }

    #[cfg(test)]
    pub(super) fn open_at(path: &Path, clock: Clock) -> Result<SqliteStore, StoreError> {
        Self::open_with(Location::File(path), clock, Thresholds::DEFAULT, true)
    }

    #[cfg(test)]
    pub(super) fn open_with_checkpoints(
        path: &Path,
        checkpoints: Thresholds,
    ) -> Result<SqliteStore, StoreError> {
        Self::open_with(Location::File(path), system_clock(), checkpoints, true)
    }
}

/// Opens a file connection: the writer's (creating the file) or the
/// reader's.
pub(super) fn open_file(path: &Path, create: bool) -> Result<Connection, StoreError> {
    // No SQLITE_OPEN_URI: the configured path is a plain file name.
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    schema::configure_common(&conn)?;
    // Every connection of a file store, whatever SQLite was built with:
    // the checkpoint thread's and the reader's (the last to close runs the
    // final checkpoint) sync the database file before the WAL is reused.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Opens the outcome journal beside the store at `path` and applies what
/// it holds (outcomes of sends the store could not record before the last
/// stop) to rows still pending, in one transaction on `conn`; then empties
/// it.
fn apply_journal(path: &Path, conn: &mut Connection) -> Result<Journal, StoreError> {
    let (journal, held) = Journal::open(path).map_err(StoreError::Journal)?;
    if held.is_empty() {
        return Ok(journal);
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut applied = 0;
    for (id, verdict) in &held {
        applied += match verdict {
            Verdict::Sent => tx.execute(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1
                 WHERE id = ?1 AND status = 'pending'",
                [id],
            )?,
            Verdict::Retry { at, error } => tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1 AND status = 'pending'",
                params![id, at, error],
            )?,
            Verdict::Dead { error } => tx.execute(
                "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?2
                 WHERE id = ?1 AND status = 'pending'",
                params![id, error],
            )?,
        };
    }
    tx.commit()?;
    journal.clear().map_err(StoreError::Journal)?;
    tracing::info!(
        held = held.len(),
        applied,
        "applied the send outcomes kept in the outcome journal while the store could not record them"
    );
    Ok(journal)
}

/// Names the file and says what usually went wrong.
fn open_context(path: &Path, e: StoreError) -> StoreError {
    let StoreError::Sqlite(err) = e else {
        return e;
    };
    let hint = match err.sqlite_error_code() {
        Some(ErrorCode::CannotOpen) => {
            " (does the directory exist, and may hookbridge write to it?)"
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            " (the file or its directory is read-only for hookbridge)"
        }
        Some(ErrorCode::NotADatabase) => " (the file is not a SQLite database)",
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            " (another process holds a lock on it)"
        }
        _ => "",
    };
    StoreError::Open {
        path: path.to_path_buf(),
        hint,
        source: err,
    }
}

fn lock(conn: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave the connection inside a
    // half-done transaction that we would commit: rusqlite's Transaction
    // rolls back on drop. So a poisoned lock is still usable.
    conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Busy / locked become `Busy` (callers may retry or answer 503).
fn store_error(e: rusqlite::Error) -> StoreError {
    if is_busy(&e) {
        StoreError::Busy(e.to_string())
    } else {
        StoreError::Sqlite(e)
    }
}

pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// The same failure, for every caller of a batch: shared, since rusqlite
/// errors do not clone.
fn batch_error(what: &'static str, e: &Arc<rusqlite::Error>) -> StoreError {
    if is_busy(e) {
        StoreError::Busy(format!("{what}: {e}"))
    } else {
        StoreError::Write {
            what,
            source: Arc::clone(e),
        }
    }
}

/// The writer thread's state.
struct Writer {
    conn: Arc<Mutex<Connection>>,
    receiver: mpsc::Receiver<Request>,
    commits: Arc<AtomicU64>,
    clock: Clock,
    /// When pruning last ran, and whether it left a backlog.
    last_prune: Option<(i64, bool)>,
}

impl Writer {
    fn run(mut self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut last_commit: Option<(Instant, usize)> = None;
        // `None` once every sender is gone and the queue is empty.
        while let Some(first) = self.receiver.blocking_recv() {
            if let Some((at, len)) = last_commit
                && len > 1
            {
                let wait = COMMIT_INTERVAL.saturating_sub(at.elapsed());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
            }
            batch.push(first);
            let conn = Arc::clone(&self.conn);
            let mut conn = lock(&conn);
            // Take what queued up meanwhile (including while the previous
            // batch was syncing): that is the group commit.
            while batch.len() < MAX_BATCH {
                match self.receiver.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            last_commit = Some((Instant::now(), batch.len()));
            self.run_batch(&mut conn, &mut batch);
        }
        tracing::debug!("outbox store writer stopped");
    }

    /// Runs the batch in one transaction and answers every caller after the
    /// commit. Empties `batch`.
    fn run_batch(&mut self, conn: &mut Connection, batch: &mut Vec<Request>) {
        let now = (self.clock)();
        let results = self.execute(conn, batch, now);
        for (request, result) in batch.drain(..).zip(results) {
            // The caller may have given up (cancelled future); the write
            // stands either way.
            let _ = request.reply.send(result);
        }
    }

    fn execute(
        &mut self,
        conn: &mut Connection,
        batch: &[Request],
        now: i64,
    ) -> Vec<Result<Written, StoreError>> {
        // Every caller gets the same error.
        let fail_all = |make: &dyn Fn() -> StoreError| -> Vec<Result<Written, StoreError>> {
            batch.iter().map(|_| Err(make())).collect()
        };

        // A wall clock stepped back makes a pass due at once rather than
        // postponing pruning until it catches up again.
        let prune_due = self.last_prune.is_none_or(|(at, behind)| {
            let interval = if behind {
                PRUNE_CATCH_UP_MS
            } else {
                PRUNE_INTERVAL_MS
            };
            now < at || now - at >= interval
        });
        // Requests rarely fail, so each first runs straight in the
        // transaction. One that fails may leave part of its writes behind:
        // then the transaction is rolled back and run again with every
        // request in a savepoint of its own, which undoes only the failing
        // request's writes.
        for isolated in [false, true] {
            let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
                Ok(tx) => tx,
                Err(e) => {
                    let e = Arc::new(e);
                    return fail_all(&|| batch_error("cannot begin a transaction", &e));
                }
            };
            if prune_due {
                let behind = prune(&mut tx, now);
                self.last_prune = Some((now, behind));
            }
            let mut results = Vec::with_capacity(batch.len());
            for request in batch {
                let result = if isolated {
                    in_savepoint(&mut tx, |c| apply(c, &request.op, now))
                } else {
                    apply(&tx, &request.op, now)
                };
                match result {
                    Err(_) if !isolated => break,
                    // SQLite rolled the whole transaction back (e.g. disk
                    // full): nothing of this batch stands.
                    Err(e) if tx.is_autocommit() => {
                        let e = Arc::new(e);
                        return fail_all(&|| StoreError::RolledBack(Arc::clone(&e)));
                    }
                    result => results.push(result),
                }
            }
            if results.len() < batch.len() {
                // The fast pass failed somewhere; dropping `tx` rolls it back.
                continue;
            }
            return match tx.commit() {
                Ok(()) => {
                    self.commits.fetch_add(1, Ordering::Relaxed);
                    results
                }
                Err(e) => {
                    let e = Arc::new(e);
                    fail_all(&|| batch_error("commit failed", &e))
                }
            };
        }
        // The isolated pass answers every request or returns above.
        fail_all(&|| StoreError::UnexpectedAnswer)
    }
}

/// Deletes old dedup keys and old sent rows, each in a savepoint: a failed
/// prune is retried later and never fails the batch.
/// True when a full batch went: more may be waiting.
fn prune(tx: &mut rusqlite::Transaction<'_>, now: i64) -> bool {
    let keys = match in_savepoint(tx, |c| prune_dedup(c, now)) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e.chain(), "pruning old dedup keys failed");
            0
        }
    };
    let rows = match in_savepoint(tx, |c| prune_sent(c, now)) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e.chain(), "pruning old sent rows failed");
            0
        }
    };
    let threads = match in_savepoint(tx, |c| prune_threads(c, now)) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e.chain(), "pruning old thread ids failed");
            0
        }
    };
    if keys + rows + threads > 0 {
        tracing::debug!(
            keys,
            rows,
            threads,
            "pruned old dedup keys, sent rows and thread ids"
        );
    }
    keys >= PRUNE_BATCH || rows >= PRUNE_BATCH || threads >= PRUNE_BATCH
}

/// Runs `f` in a savepoint: kept if it succeeds, undone if it fails.
fn in_savepoint<T>(
    tx: &mut rusqlite::Transaction<'_>,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let sp = tx.savepoint().map_err(store_error)?;
    let value = f(&sp)?; // on error, dropping `sp` rolls it back
    sp.commit().map_err(store_error)?;
    Ok(value)
}

/// Sent rows are history: kept as long as dedup keys (7 days) for
/// `hookbridge deliveries`, then deleted, a bounded batch at a time so one
/// prune never holds the writer long. Dead rows stay until replayed.
fn prune_sent(conn: &Connection, now: i64) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(SQL_PRUNE_SENT)?;
    Ok(stmt.execute(params![now - DEDUP_WINDOW_MS, PRUNE_BATCH as i64])?)
}

/// Thread ids unused for 90 days: their parents are long scrolled away.
fn prune_threads(conn: &Connection, now: i64) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(
        "DELETE FROM thread WHERE (sink, channel, thread_key) IN \
         (SELECT sink, channel, thread_key FROM thread WHERE updated_at <= ?1 \
          ORDER BY updated_at LIMIT ?2)",
    )?;
    Ok(stmt.execute(params![now - THREAD_WINDOW_MS, PRUNE_BATCH as i64])?)
}

fn prune_dedup(conn: &Connection, now: i64) -> Result<usize, StoreError> {
    let mut stmt = conn.prepare_cached(SQL_PRUNE_DEDUP)?;
    Ok(stmt.execute(params![now - DEDUP_WINDOW_MS, PRUNE_BATCH as i64])?)
}

fn apply(conn: &Connection, op: &Op, now: i64) -> Result<Written, StoreError> {
    match op {
        Op::Accept { meta, messages } => accept(conn, meta, messages, now).map(Written::Accepted),
        Op::MarkSent { id } => {
            let mut stmt = conn.prepare_cached(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1 WHERE id = ?1",
            )?;
            expect_row(stmt.execute([id])?, *id)
        }
        Op::Threads {
            id,
            posted,
            lane,
            threads,
        } => {
            if let Some(id) = id {
                let mut stmt = conn.prepare_cached(
                    "UPDATE outbox SET status = 'sent', attempts = attempts + 1,
                            message = coalesce(?2, message)
                     WHERE id = ?1",
                )?;
                expect_row(stmt.execute(params![id, posted])?, *id)?;
            }
            let mut put = conn.prepare_cached(
                "INSERT INTO thread (sink, channel, thread_key, message_id, thread_id, card, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (sink, channel, thread_key) DO UPDATE
                    SET message_id = excluded.message_id, thread_id = excluded.thread_id,
                        card = coalesce(excluded.card, thread.card), updated_at = excluded.updated_at",
            )?;
            for (key, state) in threads {
                put.execute(params![
                    lane.sink,
                    lane.channel,
                    key,
                    state.ids.message_id,
                    state.ids.thread_id,
                    state.card,
                    now
                ])?;
            }
            Ok(Written::Done)
        }
        Op::MarkRetry {
            id,
            next_attempt_at,
            error,
        } => {
            let mut stmt = conn.prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2, last_error = ?3
                 WHERE id = ?1",
            )?;
            expect_row(stmt.execute(params![id, next_attempt_at, error])?, *id)
        }
        Op::MarkDead { id, error } => {
            let mut stmt = conn.prepare_cached(
                "UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = ?2
                 WHERE id = ?1",
            )?;
            expect_row(stmt.execute(params![id, error])?, *id)
        }
        Op::Replay { ids } => {
            let mut stmt = conn.prepare_cached(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?2,
                 queued_at = ?2 WHERE id = ?1",
            )?;
            let mut count = 0;
            for id in ids {
                count += stmt.execute(params![id, now])?;
            }
            Ok(Written::Count(count))
        }
        Op::ReplayDead => {
            let mut stmt = conn.prepare_cached(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?1,
                 queued_at = ?1 WHERE status = 'dead'",
            )?;
            Ok(Written::Count(stmt.execute([now])?))
        }
        Op::Touch => {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('write_checked_at', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?;
            stmt.execute([now])?;
            Ok(Written::Done)
        }
    }
}

fn expect_row(changed: usize, id: RowId) -> Result<Written, StoreError> {
    if changed == 0 {
        Err(StoreError::NoRow(id))
    } else {
        Ok(Written::Done)
    }
}

fn accept(
    conn: &Connection,
    meta: &DeliveryMeta,
    messages: &[NewMessage],
    now: i64,
) -> Result<Accepted, StoreError> {
    // New key, or a key older than the window (not pruned yet): claim it.
    // A key seen within the window changes nothing: a duplicate. Earlier
    // requests of the same batch are visible here, same transaction.
    let mut claim = conn.prepare_cached(
        "INSERT INTO dedup (source, delivery_id, seen_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (source, delivery_id) DO UPDATE SET seen_at = excluded.seen_at
         WHERE dedup.seen_at <= ?4",
    )?;
    let claimed = claim.execute(params![
        meta.source,
        meta.delivery_id,
        now,
        now - DEDUP_WINDOW_MS
    ])?;
    if claimed == 0 {
        return Ok(Accepted::Duplicate);
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO outbox (source, delivery_id, kind, repo, sink, channel, message, status,
                             attempts, next_attempt_at, last_error, created_at, queued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, NULL, ?8, ?8)",
    )?;
    let mut ids = Vec::with_capacity(messages.len());
    for m in messages {
        // `execute` + last_insert_rowid: RETURNING builds an ephemeral
        // table per row
        insert.execute(params![
            meta.source,
            meta.delivery_id,
            meta.kind,
            meta.repo,
            m.lane.sink,
            m.lane.channel,
            m.message,
            now
        ])?;
        let id: RowId = conn.last_insert_rowid();
        ids.push(id);
    }
    Ok(Accepted::Stored(ids))
}

macro_rules! row_columns {
    () => {
        "id, source, delivery_id, kind, repo, sink, channel, message, status, attempts, \
         next_attempt_at, last_error, created_at, queued_at"
    };
}

// The read queries. The pending-row queries name the partial index
// `outbox_pending_lane` and spell `status = 'pending'` literally, as a
// partial index requires. The tests check the plans.
pub(super) const SQL_HEAD: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM outbox INDEXED BY outbox_pending_lane \
     WHERE status = 'pending' AND sink = ?1 AND channel = ?2 ORDER BY id LIMIT 1"
);
pub(super) const SQL_LIST_STATUS: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM outbox WHERE status = ?1 ORDER BY id DESC LIMIT ?2"
);
pub(super) const SQL_LIST_ALL: &str = concat!(
    "SELECT ",
    row_columns!(),
    " FROM outbox ORDER BY id DESC LIMIT ?1"
);
pub(super) const SQL_PENDING_LANES: &str = "SELECT DISTINCT sink, channel \
     FROM outbox INDEXED BY outbox_pending_lane WHERE status = 'pending' ORDER BY sink, channel";
pub(super) const SQL_DEPTH_BY_SINK: &str = "SELECT sink, COUNT(*) \
     FROM outbox INDEXED BY outbox_pending_lane WHERE status = 'pending' GROUP BY sink ORDER BY sink";
pub(super) const SQL_PRUNE_DEDUP: &str = "DELETE FROM dedup WHERE (source, delivery_id) IN \
     (SELECT source, delivery_id FROM dedup WHERE seen_at <= ?1 ORDER BY seen_at LIMIT ?2)";
/// Rows are created in id order, so old rows are the ids below the first
/// young one: the scan walks ids up to there and stops, rather than the
/// whole table (no index covers `status` and `created_at`). The newest row
/// always stays, so ids keep growing (SQLite would start again at 1 in an
/// empty table, and an old `replay <id>` would name another message).
pub(super) const SQL_PRUNE_SENT: &str = "DELETE FROM outbox WHERE id IN \
     (SELECT id FROM outbox WHERE id < coalesce( \
        (SELECT id FROM outbox WHERE created_at > ?1 ORDER BY id LIMIT 1), \
        (SELECT max(id) FROM outbox)) \
      AND status = 'sent' AND created_at <= ?1 ORDER BY id LIMIT ?2)";

fn row_from_sql(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let status: String = r.get(8)?;
    let status = Status::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            8,
            Type::Text,
            format!("unknown outbox status {status:?}").into(),
        )
    })?;
    Ok(Row {
        id: r.get(0)?,
        source: r.get(1)?,
        delivery_id: r.get(2)?,
        kind: r.get(3)?,
        repo: r.get(4)?,
        lane: Lane {
            sink: r.get(5)?,
            channel: r.get(6)?,
        },
        message: r.get(7)?,
        status,
        attempts: r.get(9)?,
        next_attempt_at: r.get(10)?,
        last_error: r.get(11)?,
        created_at: r.get(12)?,
        queued_at: r.get(13)?,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn accept(
        &self,
        meta: DeliveryMeta,
        messages: Vec<NewMessage>,
    ) -> Result<Accepted, StoreError> {
        if let Some(lost) = self.inner.watch.as_ref().and_then(FileWatch::lost) {
            return Err(lost);
        }
        match self.write(Op::Accept { meta, messages }, false).await? {
            Written::Accepted(a) => Ok(a),
            _ => Err(unexpected()),
        }
    }

    async fn head(&self, lane: &Lane) -> Result<Option<Row>, StoreError> {
        let lane = lane.clone();
        self.read(move |c| {
            c.prepare_cached(SQL_HEAD)?
                .query_row(params![lane.sink, lane.channel], row_from_sql)
                .optional()
        })
        .await
    }

    async fn mark_sent(&self, id: RowId) -> Result<(), StoreError> {
        self.write(Op::MarkSent { id }, true).await.map(|_| ())
    }

    async fn thread_state(
        &self,
        lane: &Lane,
        key: &str,
    ) -> Result<Option<ThreadState>, StoreError> {
        let (lane, key) = (lane.clone(), key.to_string());
        let since = (self.inner.clock)() - THREAD_WINDOW_MS;
        self.read(move |c| {
            c.prepare_cached(
                "SELECT message_id, thread_id, card FROM thread
                 WHERE sink = ?1 AND channel = ?2 AND thread_key = ?3 AND updated_at > ?4",
            )?
            .query_row(params![lane.sink, lane.channel, key, since], |r| {
                Ok(ThreadState {
                    ids: ThreadIds {
                        message_id: r.get(0)?,
                        thread_id: r.get(1)?,
                    },
                    card: r.get(2)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn put_threads(
        &self,
        lane: &Lane,
        threads: &[(String, ThreadState)],
    ) -> Result<(), StoreError> {
        let op = Op::Threads {
            id: None,
            posted: None,
            lane: lane.clone(),
            threads: threads.to_vec(),
        };
        self.write(op, true).await.map(|_| ())
    }

    async fn mark_sent_thread(
        &self,
        id: RowId,
        lane: &Lane,
        threads: &[(String, ThreadState)],
    ) -> Result<(), StoreError> {
        let op = Op::Threads {
            id: Some(id),
            posted: None,
            lane: lane.clone(),
            threads: threads.to_vec(),
        };
        self.write(op, true).await.map(|_| ())
    }

    async fn mark_posted(
        &self,
        id: RowId,
        posted: &str,
        lane: &Lane,
        threads: &[(String, ThreadState)],
    ) -> Result<(), StoreError> {
        let op = Op::Threads {
            id: Some(id),
            posted: Some(posted.to_string()),
            lane: lane.clone(),
            threads: threads.to_vec(),
        };
        self.write(op, true).await.map(|_| ())
    }

    async fn mark_retry(
        &self,
        id: RowId,
        next_attempt_at: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        let op = Op::MarkRetry {
            id,
            next_attempt_at,
            error: error.to_owned(),
        };
        self.write(op, true).await.map(|_| ())
    }

    async fn mark_dead(&self, id: RowId, error: &str) -> Result<(), StoreError> {
        let op = Op::MarkDead {
            id,
            error: error.to_owned(),
        };
        self.write(op, true).await.map(|_| ())
    }

    async fn pending_lanes(&self) -> Result<Vec<Lane>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(SQL_PENDING_LANES)?;
            stmt.query_map([], |r| {
                Ok(Lane {
                    sink: r.get(0)?,
                    channel: r.get(1)?,
                })
            })?
            .collect()
        })
        .await
    }

    async fn list(&self, status: Option<Status>, limit: usize) -> Result<Vec<Row>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| match status {
            Some(status) => c
                .prepare_cached(SQL_LIST_STATUS)?
                .query_map(params![status.as_str(), limit], row_from_sql)?
                .collect(),
            None => c
                .prepare_cached(SQL_LIST_ALL)?
                .query_map([limit], row_from_sql)?
                .collect(),
        })
        .await
    }

    async fn replay(&self, ids: &[RowId]) -> Result<usize, StoreError> {
        // Each row counts once, however often it is named.
        let ids: Vec<RowId> = ids
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match self.write(Op::Replay { ids }, true).await? {
            Written::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn replay_dead(&self) -> Result<usize, StoreError> {
        match self.write(Op::ReplayDead, true).await? {
            Written::Count(n) => Ok(n),
            _ => Err(unexpected()),
        }
    }

    async fn depth_by_sink(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(SQL_DEPTH_BY_SINK)?;
            stmt.query_map([], |r| {
                let count: i64 = r.get(1)?;
                Ok((r.get(0)?, u64::try_from(count).unwrap_or(0)))
            })?
            .collect()
        })
        .await
    }

    async fn hold_outcome(&self, id: RowId, verdict: &Verdict) -> Result<(), StoreError> {
        let journal = self.inner.journal.clone().ok_or(StoreError::NoJournal)?;
        let verdict = verdict.clone();
        tokio::task::spawn_blocking(move || journal.hold(id, &verdict))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            .map_err(StoreError::Journal)
    }

    async fn release_outcome(&self, id: RowId) -> Result<(), StoreError> {
        let Some(journal) = self.inner.journal.clone() else {
            return Ok(());
        };
        tokio::task::spawn_blocking(move || journal.release(id))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
            .map_err(StoreError::Journal)
    }

    async fn check_writable(&self) -> Result<(), StoreError> {
        if let Some(watch) = &self.inner.watch {
            watch.check_now()?;
        }
        self.write(Op::Touch, false).await.map(|_| ())
    }
}

fn unexpected() -> StoreError {
    StoreError::UnexpectedAnswer
}

//! The store's on-disk schema: versioned with `PRAGMA user_version`, one
//! migration step per version, and the connection settings every connection
//! gets (busy timeout, WAL, `synchronous=FULL`).

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The schema version this binary writes and understands.
pub(super) const SCHEMA_VERSION: i64 = 4;

/// How long a statement waits for another connection's lock (the CLI and
/// the service share the file) before giving up with `SQLITE_BUSY`.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// `MIGRATIONS[v]` takes the schema from version `v` to `v + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [V1, V2, V3, V4];

/// Version 1: meta, dedup keys, outbox rows.
pub(super) const V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value ANY
);

-- WITHOUT ROWID: the key is the table; one b-tree to write, not two.
CREATE TABLE dedup (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (source, delivery_id)
) WITHOUT ROWID;
-- Pruning old keys walks this index.
CREATE INDEX dedup_seen_at ON dedup (seen_at);

CREATE TABLE outbox (
    -- no AUTOINCREMENT: it rewrites sqlite_sequence on every commit; ids
    -- still grow, since only old sent rows are ever deleted
    id              INTEGER PRIMARY KEY,
    source          TEXT NOT NULL,
    delivery_id     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    repo            TEXT NOT NULL,
    sink            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    queued_at       INTEGER NOT NULL
);
-- Head of a lane, pending lanes and depth by sink: only pending rows, which
-- stay few while sent rows pile up. Queries must spell status = 'pending'
-- literally for the planner to pick this partial index.
CREATE INDEX outbox_pending_lane ON outbox (sink, channel, id) WHERE status = 'pending';
-- `deliveries --status X` walks the rows newest first (kept 7 days): no
-- index of its own, which every accept would have to write.
";

/// Version 2: a row keeps the rendered message, not the platform request
/// body around it (half the bytes; the sink builds the body when sending).
/// Rows of version 1 keep their text: Slack and stdout bodies carry it as
/// `text`, Discord bodies as `content`.
const V2: &str = "
ALTER TABLE outbox RENAME COLUMN body TO message;
UPDATE outbox
   SET message = coalesce(json_extract(message, '$.text'), json_extract(message, '$.content'), message)
 WHERE json_valid(message) AND json_type(message) = 'object';
";

/// Version 3: threads. (sink, channel, thread key) -> the platform's ids
/// of the item's parent message (or a CI run's living message) and the
/// card it shows, kept 90 days after the last use.
const V3: &str = "
CREATE TABLE thread (
    sink       TEXT NOT NULL,
    channel    TEXT NOT NULL,
    thread_key TEXT NOT NULL,
    message_id TEXT NOT NULL,
    thread_id  TEXT,
    card       TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (sink, channel, thread_key)
) WITHOUT ROWID;
CREATE INDEX thread_updated_at ON thread (updated_at);
";

/// Version 4: messages are queued unrendered (`pipeline::queued`) and
/// rendered when sent. No table changes; the version is raised so that an
/// older binary refuses the file instead of posting a queued message's
/// stored form as text. Rows of older versions stay as they are.
const V4: &str = "
INSERT INTO meta (key, value) VALUES ('message_form', 'queued')
ON CONFLICT (key) DO UPDATE SET value = excluded.value;
";

/// Per-connection settings shared by writer and reader connections.
pub(super) fn configure_common(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(())
}

/// Switches a file database to WAL (every file connection has
/// `synchronous=FULL`, see `sqlite::open_file`), with 4 KiB
/// pages on a new file: a commit writes each page it touched to the WAL
/// whole, and most pages an accept touches (a dedup key's page, chosen by a
/// random delivery id) change by a few bytes. Files made with 8 KiB pages
/// keep them.
pub(super) fn configure_wal(conn: &Connection) -> Result<(), StoreError> {
    // takes effect only before the file's first write
    conn.pragma_update(None, "page_size", 4096)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal { mode });
    }
    // A WAL that grew past its usual size (a burst, an upgrade) is cut back
    // after the next rewind.
    conn.pragma_update(None, "journal_size_limit", 32 * 1024 * 1024)?;
    Ok(())
}

/// Reads `user_version`, refusing a schema newer than this binary's.
pub(super) fn check_version(conn: &Connection) -> Result<i64, StoreError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::InvalidVersion { found });
    }
    Ok(found)
}

/// Brings the schema up to [`SCHEMA_VERSION`] and records the open, in one
/// immediate transaction (re-reading the version inside it, so two
/// processes opening a fresh file at once do not both migrate). An older
/// schema is upgraded only when `upgrade` is set (`serve`); the
/// command-line tools refuse it, since a service of the older version may
/// still be running on the file. A new file is always set up.
pub(super) fn migrate(conn: &mut Connection, now_ms: i64, upgrade: bool) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = check_version(&tx)?;
    let upgrading = found > 0 && found < SCHEMA_VERSION;
    if upgrading && !upgrade {
        return Err(StoreError::SchemaTooOld {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if upgrading {
        tracing::info!(
            from = found,
            to = SCHEMA_VERSION,
            "upgrading the store schema"
        );
    }
    if found < SCHEMA_VERSION {
        for (version, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.execute_batch(step)
                .map_err(|source| StoreError::Migrate {
                    version: version as i64 + 1,
                    source,
                })?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    // A real write, so a read-only file is refused here and not at the
    // first accepted webhook.
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('opened_at', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [now_ms],
    )?;
    tx.commit()?;
    if upgrading {
        // The upgrade rewrote every row through the WAL: give the space back
        // now rather than keep a WAL the size of the table.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "could not truncate the WAL after the upgrade");
        }
    }
    Ok(())
}

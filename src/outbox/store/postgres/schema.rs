//! The PostgreSQL schema: versioned in `hookbridge_schema`, one migration
//! step per version, applied at start-up by one replica at a time under a
//! transaction-level advisory lock (DDL is transactional in PostgreSQL, so
//! a step is all there or not at all).

use deadpool_postgres::GenericClient;

use super::super::StoreError;
use super::pg_error;

/// The schema version this binary writes and understands.
pub(crate) const SCHEMA_VERSION: i32 = 3;

/// The advisory lock key migrations run under ("hookbrdg").
const MIGRATION_LOCK: i64 = 0x686f_6f6b_6272_6467;

/// `MIGRATIONS[v]` takes the schema from version `v` to `v + 1`.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [V1, V2, V3];

/// Version 1: meta, dedup keys, outbox rows, lane leases, replicas, thread ids.
/// Times are Unix milliseconds (`int8`), as in the SQLite store.
const V1: &str = "
CREATE TABLE hookbridge_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- The unique key is the dedup: a delivery accepted on one replica is a
-- duplicate on every other one.
CREATE TABLE hookbridge_dedup (
    source      text NOT NULL,
    delivery_id text NOT NULL,
    seen_at     int8 NOT NULL,
    PRIMARY KEY (source, delivery_id)
);
CREATE INDEX hookbridge_dedup_seen_at ON hookbridge_dedup (seen_at);

CREATE TABLE hookbridge_outbox (
    -- a sequence: ids are never reused
    id              int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source          text NOT NULL,
    delivery_id     text NOT NULL,
    kind            text NOT NULL,
    repo            text NOT NULL,
    sink            text NOT NULL,
    channel         text NOT NULL,
    message         text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        int4 NOT NULL DEFAULT 0,
    next_attempt_at int8 NOT NULL,
    last_error      text,
    created_at      int8 NOT NULL,
    queued_at       int8 NOT NULL
);
-- The head of a lane, pending lanes, depth by sink: pending rows only.
CREATE INDEX hookbridge_outbox_pending_lane ON hookbridge_outbox (sink, channel, id)
    WHERE status = 'pending';
-- Pruning old sent rows.
CREATE INDEX hookbridge_outbox_sent_created ON hookbridge_outbox (created_at)
    WHERE status = 'sent';

-- One lease per lane: who sends it, under which fencing token, until when
-- (the database's clock). owner = '' is a lane given back.
CREATE TABLE hookbridge_lease (
    sink       text NOT NULL,
    channel    text NOT NULL,
    owner      text NOT NULL,
    token      int8 NOT NULL,
    expires_at int8 NOT NULL,
    PRIMARY KEY (sink, channel)
);

-- Replicas' heartbeats: the live ones share the lanes.
CREATE TABLE hookbridge_replica (
    id      text PRIMARY KEY,
    seen_at int8 NOT NULL
);

-- (sink, channel, thread key) -> the platform's ids of the thread's parent.
CREATE TABLE hookbridge_thread (
    sink       text NOT NULL,
    channel    text NOT NULL,
    thread_key text NOT NULL,
    message_id text NOT NULL,
    thread_id  text,
    updated_at int8 NOT NULL,
    PRIMARY KEY (sink, channel, thread_key)
);
CREATE INDEX hookbridge_thread_updated_at ON hookbridge_thread (updated_at);
";

/// Version 2: a thread keeps the card its parent shows, so that an edit
/// (a CI result, a new state) changes only what it is about.
const V2: &str = "
ALTER TABLE hookbridge_thread ADD COLUMN card text;
";

/// Version 3: messages are queued unrendered and rendered when sent. No
/// table changes; the version is raised so that an older replica refuses
/// the database instead of posting a queued message's stored form as text.
const V3: &str = "
INSERT INTO hookbridge_meta (key, value) VALUES ('message_form', 'queued')
ON CONFLICT (key) DO UPDATE SET value = excluded.value;
";

/// The schema version in the database; 0 when it holds no hookbridge store.
async fn read_version(client: &impl GenericClient) -> Result<i32, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('hookbridge_schema') IS NOT NULL", &[])
        .await
        .map_err(|e| pg_error("reading the schema version", &e))?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let row = client
        .query_opt("SELECT version FROM hookbridge_schema", &[])
        .await
        .map_err(|e| pg_error("reading the schema version", &e))?;
    Ok(row.map_or(0, |r| r.get(0)))
}

fn check(found: i32) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found: i64::from(found),
            known: i64::from(SCHEMA_VERSION),
        });
    }
    Ok(())
}

/// For the command-line tools: the database must hold a store of this
/// binary's version (they never create or upgrade one).
pub(crate) async fn check_only(client: &impl GenericClient) -> Result<(), StoreError> {
    let found = read_version(client).await?;
    check(found)?;
    if found == 0 {
        return Err(StoreError::Database(
            "no hookbridge store in this database: `hookbridge serve` creates it; is the URL the service's?".into(),
        ));
    }
    if found < SCHEMA_VERSION {
        return Err(StoreError::SchemaTooOld {
            found: i64::from(found),
            known: i64::from(SCHEMA_VERSION),
        });
    }
    Ok(())
}

/// Brings the schema up to [`SCHEMA_VERSION`]: one replica at a time (the
/// others wait on the lock, then find nothing to do), all steps in one
/// transaction.
pub(crate) async fn migrate(
    client: &mut deadpool_postgres::Object,
    now_ms: i64,
) -> Result<(), StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(|e| pg_error("starting the migration", &e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| pg_error("taking the migration lock", &e))?;
    let found = read_version(&tx).await?;
    check(found)?;
    if found < SCHEMA_VERSION {
        if found > 0 {
            tracing::info!(
                from = found,
                to = SCHEMA_VERSION,
                "upgrading the PostgreSQL schema"
            );
        } else {
            tracing::info!(
                version = SCHEMA_VERSION,
                "creating the hookbridge tables in PostgreSQL"
            );
        }
        if found == 0 {
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS hookbridge_schema (version int4 NOT NULL)",
            )
            .await
            .map_err(|e| pg_error("creating the schema table", &e))?;
        }
        for (version, step) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.batch_execute(step)
                .await
                .map_err(|e| pg_error(&format!("migration to version {}", version + 1), &e))?;
        }
        tx.execute("DELETE FROM hookbridge_schema", &[])
            .await
            .map_err(|e| pg_error("recording the schema version", &e))?;
        tx.execute(
            "INSERT INTO hookbridge_schema (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(|e| pg_error("recording the schema version", &e))?;
    }
    // A real write, so a read-only database is refused here and not at the
    // first accepted webhook.
    tx.execute(
        "INSERT INTO hookbridge_meta (key, value) VALUES ('opened_at', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&now_ms.to_string()],
    )
    .await
    .map_err(|e| pg_error("recording the open", &e))?;
    tx.commit()
        .await
        .map_err(|e| pg_error("committing the migration", &e))
}

//! The durable outbox: the store of accepted messages and dedup keys, and
//! the per-channel workers that deliver them.

pub mod lease;
pub mod store;
pub mod worker;

pub use store::{
    Accepted, DeliveryMeta, Lane, NewMessage, PgStore, Row, RowId, SqliteStore, Status, Store,
    StoreError, ThreadIds, ThreadState, Verdict,
};
pub use worker::{Outbox, SinkMap};

//! hookbridge's integration tests: one crate (one link), one module per
//! concern, every test against real HTTP on 127.0.0.1.

mod cli;
mod common;
mod delivery;
mod events;
mod hardening;
mod ops;
mod outcomes;
mod pgserver;
mod postgres;
mod receive;
mod send_time;
mod sinks;
mod snapshots;
mod standin;
mod store_down;
mod threads;

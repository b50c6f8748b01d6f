//! hookbridge: receive forge and Hugging Face Hub webhooks, verify them,
//! route them with `bridge.toml`, render them with Handlebars, and deliver
//! them to Slack, Discord or stdout through a durable outbox.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! server (HTTP) -> sources (verify, parse) -> routing -> render -> outbox (store, workers) -> sinks
//! ```

pub mod cli;
pub mod config;
pub mod event;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod render;
pub mod routing;
pub mod server;
pub mod service;
pub mod sinks;
pub mod sources;
pub mod threads;

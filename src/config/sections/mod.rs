//! One file per `bridge.toml` section. Each holds the section's raw serde
//! form (what TOML may say), its validated form (what the service uses),
//! and the one function that turns the first into the second or names the
//! line to fix. `raw::parse` reads the file and hands each section to its
//! validator, in the order of the file's dependencies: routes last, since
//! they name sources and sinks.

pub(crate) mod delivery;
pub(crate) mod routes;
pub(crate) mod server;
pub(crate) mod sinks;
pub(crate) mod sources;
pub(crate) mod store;
pub(crate) mod templates;

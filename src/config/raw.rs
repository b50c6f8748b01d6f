//! The TOML layer: reads the file into raw serde structs (with spans, so
//! every error names its line), then hands each section to its own
//! validator in `sections/` to build the [`Config`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::context::Ctx;
use super::sections::delivery::RawDelivery;
use super::sections::routes::RawRoute;
use super::sections::server::RawServer;
use super::sections::sinks::RawSink;
use super::sections::sources::RawSource;
use super::sections::store::RawStore;
use super::sections::templates::{RawTemplates, templates_dir};
use super::{
    Config, ConfigError, DeliveryConfig, Route, ServerConfig, SinkConfig, SinkKind, SourceConfig,
    SourceKind, StoreConfig, base_dir_of,
};

/// `bridge.toml` as written: one field per section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// `[server]`: listen address, body cap.
    server: Option<RawServer>,
    /// `[store]`: SQLite path or PostgreSQL URL.
    store: Option<RawStore>,
    /// `[delivery]`: send timeout, max age, pacing.
    delivery: Option<RawDelivery>,
    /// `[templates]`: override directory.
    templates: Option<RawTemplates>,
    /// `[sources.NAME]` tables, by name.
    #[serde(default)]
    sources: BTreeMap<String, Spanned<RawSource>>,
    /// `[sinks.NAME]` tables, by name.
    #[serde(default)]
    sinks: BTreeMap<String, Spanned<RawSink>>,
    /// `[[routes]]`, in file order.
    #[serde(default)]
    routes: Vec<Spanned<RawRoute>>,
}

/// Reads `text` (the file at `path`) into a validated [`Config`].
pub(super) fn parse(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let cx = Ctx {
        file: path.display().to_string(),
        text,
        env,
    };
    let raw = deserialize(&cx)?;

    let server = ServerConfig::from_raw(raw.server.as_ref(), &cx)?;
    let store = StoreConfig::from_raw(raw.store.as_ref(), &cx)?;
    let delivery = DeliveryConfig::from_raw(raw.delivery.as_ref(), &cx)?;
    let templates_dir = templates_dir(raw.templates.as_ref(), base_dir_of(path), &cx)?;

    let mut sources = BTreeMap::new();
    for (name, s) in &raw.sources {
        sources.insert(name.clone(), SourceConfig::from_raw(name, s, &cx)?);
    }

    let mut sinks = BTreeMap::new();
    let mut disabled_sinks = Vec::new();
    for (name, s) in &raw.sinks {
        match SinkConfig::from_raw(name, s, &cx)? {
            Some(sink) => {
                sinks.insert(name.clone(), sink);
            }
            None => disabled_sinks.push(name.clone()),
        }
    }

    let routes = raw
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| Route::from_raw(i, r, &cx, &sources, &sinks, &disabled_sinks))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Config {
        path: path.to_path_buf(),
        server,
        store,
        delivery,
        templates_dir,
        sources,
        sinks,
        disabled_sinks,
        routes,
    })
}

/// TOML syntax and shape: unknown keys, wrong types, unknown kinds.
fn deserialize(cx: &Ctx<'_>) -> Result<RawConfig, ConfigError> {
    let deserializer = toml::Deserializer::parse(cx.text).map_err(|e| {
        ConfigError::invalid(
            &cx.file,
            e.span().map(|s| cx.line(s.start)),
            "",
            e.message().trim().to_string(),
            README_FIX,
        )
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = key_of(e.path());
        let e = e.into_inner();
        let line = e.span().map(|s| cx.line(s.start));
        let fix = fix_for(&key);
        ConfigError::invalid(&cx.file, line, key, e.message().trim().to_string(), fix)
    })
}

const README_FIX: &str = "docs/configuration.md lists every key, its values and its default";

/// The fix for a shape error at `key`: the valid values where there are few,
/// else where every key is documented.
fn fix_for(key: &str) -> String {
    let kind_of = |table: &str| key.starts_with(table) && key.ends_with(".kind");
    if kind_of("sources.") {
        format!("use one of: {}", SourceKind::names())
    } else if kind_of("sinks.") {
        format!("use one of: {}", SinkKind::names())
    } else {
        README_FIX.to_string()
    }
}

/// The dotted key a deserialization error is about (`server.max_body_bytes`,
/// `routes[1].events`, or the table a missing field belongs in), without the
/// fields `toml::Spanned` deserializes through.
fn key_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut key = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => key.push_str(&format!("[{index}]")),
            Segment::Map { key: k } | Segment::Enum { variant: k } => {
                if k.starts_with("$__serde_spanned") {
                    continue;
                }
                if !key.is_empty() {
                    key.push('.');
                }
                key.push_str(k);
            }
            Segment::Unknown => {}
        }
    }
    key
}

//! `[templates]`: where template overrides are read from.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::ConfigError;
use crate::config::context::Ctx;

/// `[templates]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTemplates {
    /// `dir = "templates"`, relative to the config file; `${VAR}` allowed.
    dir: Option<Spanned<String>>,
}

/// Validates `[templates]` into the template directory: `dir` resolved
/// against `base` (the config file's directory), or `templates/` there.
pub(crate) fn templates_dir(
    raw: Option<&RawTemplates>,
    base: &Path,
    cx: &Ctx<'_>,
) -> Result<PathBuf, ConfigError> {
    let Some(d) = raw.and_then(|t| t.dir.as_ref()) else {
        return Ok(base.join("templates"));
    };
    let dir = base.join(cx.expand(d, "templates.dir")?);
    // Only the default `templates/` may be absent (embedded templates then
    // serve alone): a directory named on purpose must exist.
    if !dir.is_dir() {
        return cx.err(
            d.span(),
            "templates.dir",
            format!("`{}` is not a directory", dir.display()),
            "create it, or remove [templates] dir to use templates/ beside this file (or the embedded templates)",
        );
    }
    Ok(dir)
}

//! Configuration errors that tell an operator where and how to fix them.

use std::fmt;

/// A config that cannot be used, with file, line, key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read; the I/O error is the source, so a chain
    /// printer (`{:#}`) says why.
    #[error("{file}: cannot read")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is wrong at a known place.
    #[error(fmt = fmt_invalid)]
    Invalid {
        file: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// Dotted key, e.g. `routes[2].to` or `sinks.team-slack.token`.
        key: String,
        message: String,
        fix: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        file: &str,
        line: Option<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            file: file.to_string(),
            line,
            key: key.into(),
            message: message.into(),
            fix: fix.into(),
        }
    }
}

/// `file:line: `key`: message` and, on its own line, `fix: …`.
fn fmt_invalid(
    file: &str,
    line: &Option<usize>,
    key: &str,
    message: &str,
    fix: &str,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    match line {
        Some(l) => write!(f, "{file}:{l}: ")?,
        None => write!(f, "{file}: ")?,
    }
    if !key.is_empty() {
        write!(f, "`{key}`: ")?;
    }
    write!(f, "{message}")?;
    if !fix.is_empty() {
        write!(f, "\n  fix: {fix}")?;
    }
    Ok(())
}

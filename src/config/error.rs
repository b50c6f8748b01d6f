//! Configuration errors that tell an operator where and how to fix them.

use std::fmt;

/// A config that cannot be used, with file, line, key and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read.
    Io { file: String, message: String },
    /// The file was read but is wrong at a known place.
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

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { file, message } => write!(f, "{file}: cannot read: {message}"),
            ConfigError::Invalid {
                file,
                line,
                key,
                message,
                fix,
            } => {
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
        }
    }
}

impl std::error::Error for ConfigError {}

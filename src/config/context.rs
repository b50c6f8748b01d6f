//! What every section validator needs beside its own raw values: the file
//! name and text (to turn a byte span into a line), `${VAR}` expansion, and
//! building a [`ConfigError`] that points at the line to fix.

use std::ops::Range;

use toml::Spanned;

use super::ConfigError;

/// The file being validated and the environment `${VAR}` reads.
pub(crate) struct Ctx<'a> {
    /// The file's name as the operator wrote it, for messages.
    pub(crate) file: String,
    /// The file's text, for turning byte offsets into lines.
    pub(crate) text: &'a str,
    /// Resolves `${VAR}`: the process environment, or a test's map.
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
}

impl Ctx<'_> {
    /// The 1-based line of a byte offset.
    pub(crate) fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    /// An error at the line of `span`.
    pub(crate) fn err<T>(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::invalid(
            &self.file,
            Some(self.line(span.start)),
            key,
            message,
            fix,
        ))
    }

    /// Expands `${VAR}` and `${VAR:-default}` in a string value.
    pub(crate) fn expand(&self, value: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        let s = value.get_ref();
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return self.err(
                    value.span(),
                    key,
                    "`${` without a closing `}`",
                    "write the variable as ${NAME}",
                );
            };
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return self.err(
                    value.span(),
                    key,
                    format!("`${{{inner}}}` is not a valid variable reference"),
                    "use ${NAME} with letters, digits and `_`, or ${NAME:-default}",
                );
            }
            match (self.env)(name) {
                Some(v) => out.push_str(&v),
                None => match default {
                    Some(d) => out.push_str(d),
                    None => return self.err(
                        value.span(),
                        key,
                        format!("environment variable `{name}` is not set"),
                        format!(
                            "set {name} in the service's environment, or write ${{{name}:-default}}"
                        ),
                    ),
                },
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Source and sink names become URL paths and target prefixes.
    pub(crate) fn check_name(
        &self,
        name: &str,
        key: &str,
        span: Range<usize>,
    ) -> Result<(), ConfigError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return self.err(
                span,
                key,
                format!("`{name}` is not a usable name"),
                "use letters, digits, `-`, `_` and `.` (it becomes part of a URL or a target)",
            );
        }
        Ok(())
    }
}

//! `[sources.NAME]`: the senders webhooks are received from, each at
//! `POST /hooks/NAME`, and the secrets that verify them.

use std::fmt;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::config::context::Ctx;
use crate::config::{ConfigError, Secret};

/// `[sources.NAME]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSource {
    /// `kind = "github"`: parsed by serde, which names the valid kinds.
    kind: SourceKind,
    /// `secret = "${VAR}"`: the secret configured at the sender.
    secret: Option<Spanned<String>>,
    /// `secrets = ["${NEW}", "${OLD}"]`: several, for rotation.
    secrets: Option<Vec<Spanned<String>>>,
    /// `allow_unsigned = true`: the only way to have no secret.
    #[serde(default)]
    allow_unsigned: bool,
}

/// The kind of sender a source receives from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Github,
    Gitea,
    Forgejo,
    Gogs,
    Dagshub,
    Gitlab,
    Huggingface,
}

impl SourceKind {
    pub const ALL: [SourceKind; 7] = [
        SourceKind::Github,
        SourceKind::Gitea,
        SourceKind::Forgejo,
        SourceKind::Gogs,
        SourceKind::Dagshub,
        SourceKind::Gitlab,
        SourceKind::Huggingface,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Github => "github",
            SourceKind::Gitea => "gitea",
            SourceKind::Forgejo => "forgejo",
            SourceKind::Gogs => "gogs",
            SourceKind::Dagshub => "dagshub",
            SourceKind::Gitlab => "gitlab",
            SourceKind::Huggingface => "huggingface",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        SourceKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The valid kinds, as an operator writes them.
    pub(crate) fn names() -> String {
        SourceKind::ALL.map(SourceKind::as_str).join(", ")
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As its lowercase name (`"github"`).
impl serde::Serialize for SourceKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// From the lowercase name (`"github"`); any other string is an error
/// naming it.
impl<'de> Deserialize<'de> for SourceKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SourceKind::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format_args!("unknown source kind `{s}`")))
    }
}

/// One webhook sender.
#[derive(Debug, Clone)]
pub struct SourceConfig {
    /// The table's name: the URL path `POST /hooks/NAME` and the name routes
    /// use.
    pub name: String,
    /// How deliveries are verified and parsed.
    pub kind: SourceKind,
    /// Any one of these may match (rotation). Empty only with `allow_unsigned`.
    pub secrets: Vec<Secret>,
    /// Unsigned deliveries are accepted (only with no secret).
    pub allow_unsigned: bool,
}

impl SourceConfig {
    /// Validates `[sources.NAME]`: a usable name, and secrets that are set
    /// unless the operator accepts unsigned deliveries knowingly.
    pub(crate) fn from_raw(
        name: &str,
        raw: &Spanned<RawSource>,
        cx: &Ctx<'_>,
    ) -> Result<SourceConfig, ConfigError> {
        let key = format!("sources.{name}");
        cx.check_name(name, &key, raw.span())?;
        let src = raw.get_ref();
        let mut secrets = Vec::new();
        if let Some(sec) = &src.secret {
            secrets.push((cx.expand(sec, &format!("{key}.secret"))?, sec.span()));
        }
        for sec in src.secrets.iter().flatten() {
            secrets.push((cx.expand(sec, &format!("{key}.secrets"))?, sec.span()));
        }
        for (value, span) in &secrets {
            if value.is_empty() {
                return cx.err(
                    span.clone(),
                    format!("{key}.secret"),
                    "the secret is empty",
                    "set the variable to the secret configured at the sender",
                );
            }
        }
        if secrets.is_empty() && !src.allow_unsigned {
            return cx.err(
                raw.span(),
                key,
                "source has no secret, so anyone could post to it",
                "add secret = \"${VAR}\" with the secret configured at the sender, or allow_unsigned = true to accept unsigned deliveries knowingly",
            );
        }
        Ok(SourceConfig {
            name: name.to_string(),
            kind: src.kind,
            secrets: secrets.into_iter().map(|(v, _)| Secret::new(v)).collect(),
            allow_unsigned: src.allow_unsigned,
        })
    }
}

//! The default templates compiled into the binary, from the repo's
//! `templates/<platform>/<set>/<name>.hbs` (which users can copy and edit).

/// One embedded template.
pub(crate) struct Embedded {
    pub platform: &'static str,
    pub set: &'static str,
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! embed {
    ($platform:literal, $set:literal, $name:literal) => {
        Embedded {
            platform: $platform,
            set: $set,
            name: $name,
            source: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/templates/",
                $platform,
                "/",
                $set,
                "/",
                $name,
                ".hbs"
            )),
        }
    };
}

/// Every platform gets the same set of names.
macro_rules! embed_all {
    ($($set:literal / $name:literal),* $(,)?) => {
        &[$(
            embed!("slack", $set, $name),
            embed!("discord", $set, $name),
            embed!("plain", $set, $name),
        )*]
    };
}

pub(crate) static EMBEDDED: &[Embedded] = embed_all![
    "default" / "default",
    "default" / "push",
    "default" / "pull_request",
    "default" / "pull_request_review",
    "default" / "issues",
    "default" / "issue_comment",
    "default" / "create",
    "default" / "delete",
    "default" / "fork",
    "default" / "release",
    "default" / "workflow_run",
    "default" / "ping",
    "default" / "repository",
    "default" / "repo",
    "default" / "repo.content",
    "default" / "repo.config",
    "default" / "discussion",
    "default" / "discussion.comment",
    "default" / "build",
    "default" / "check_run",
    "default" / "check_suite",
    "default" / "code_scanning_alert",
    "default" / "commit_comment",
    "default" / "dependabot_alert",
    "default" / "deployment",
    "default" / "deployment_status",
    "default" / "discussion.created",
    "default" / "discussion_comment",
    "default" / "emoji",
    "default" / "feature_flag",
    "default" / "gollum",
    "default" / "member",
    "default" / "note",
    "default" / "pipeline",
    "default" / "public",
    "default" / "pull_request.approval",
    "default" / "pull_request.approved",
    "default" / "pull_request.unapproval",
    "default" / "pull_request.unapproved",
    "default" / "pull_request_review_comment",
    "default" / "repository_vulnerability_alert",
    "default" / "secret_scanning_alert",
    "default" / "star",
    "default" / "status",
    "default" / "watch",
    "default" / "workflow_job",
    "compact" / "default",
];

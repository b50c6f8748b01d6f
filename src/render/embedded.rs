//! The default templates compiled into the binary, from the repo's
//! `templates/shared/<set>/<name>.hbs` (which users can copy and edit):
//! one set that every platform renders with its own escaping and markup.

/// One embedded template.
pub(crate) struct Embedded {
    pub set: &'static str,
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! embed {
    ($($set:literal / $name:literal),* $(,)?) => {
        &[$(
            Embedded {
                set: $set,
                name: $name,
                source: include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/templates/shared/",
                    $set,
                    "/",
                    $name,
                    ".hbs"
                )),
            },
        )*]
    };
}

pub(crate) static EMBEDDED: &[Embedded] = embed![
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
    "default" / "huggingface",
    "default" / "huggingface.repo",
    "default" / "huggingface.repo.content",
    "default" / "huggingface.repo.config",
    "default" / "huggingface.discussion",
    "default" / "huggingface.discussion.comment",
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

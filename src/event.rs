//! The normalised `Event`: one vocabulary for every source.
//!
//! Each source's payload becomes an [`Event`] with a dotted `kind` (GitHub's
//! names for every forge, `<scope>.<action>` for the Hugging Face Hub), a repo
//! key that `repos` patterns match, and the fields templates and routes need.
//! The raw payload travels along for anything the struct does not model.

use serde::Serialize;

/// One verified delivery, normalised.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Event {
    /// The config's source name (`[sources.<name>]`).
    pub source: String,
    /// The source kind (`github`, `gitea`, …).
    pub source_kind: String,
    /// The sender's delivery id, or a hash of the body when it sends none.
    pub delivery_id: String,
    /// Dotted kind: `push`, `pull_request.merged`, `repo.content.update`, …
    pub kind: String,
    pub repo: Repo,
    pub actor: Actor,
    /// Link to the thing the event is about (PR, issue, comment, compare, …).
    pub url: String,
    /// Title of the PR, issue, release or discussion, when there is one.
    pub title: String,
    /// Longer text: comment body, PR or issue description, release notes.
    pub body: String,
    /// Branch: pushed ref, pull request base, created/deleted branch.
    pub branch: Option<String>,
    /// Tag, for tag pushes and tag create/delete.
    pub tag: Option<String>,
    /// Number of the PR, issue or discussion.
    pub number: Option<u64>,
    /// Pull request details.
    pub pull_request: Option<PullRequest>,
    /// Commits of a push, oldest first.
    pub commits: Vec<Commit>,
    /// How many commits the push carried (may exceed `commits.len()`).
    pub total_commits: usize,
    /// Compare link of a push.
    pub compare_url: String,
    /// Labels on the issue or pull request.
    pub labels: Vec<String>,
    /// The raw payload, minus any `secret` field some forges put in it.
    #[serde(skip)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Repo {
    /// What `repos` patterns match: `owner/name`, a GitLab project path, or
    /// the Hub URL path (`user/model`, `datasets/user/name`, `spaces/user/name`).
    pub key: String,
    /// Display name (`owner/name`).
    pub name: String,
    pub url: String,
    /// Hub repo type: `model`, `dataset` or `space`; empty for forges.
    #[serde(rename = "type")]
    pub repo_type: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Actor {
    /// Login (`octocat`), or an id when the sender gives no name (Hub).
    pub name: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct PullRequest {
    pub base: String,
    pub head: String,
    /// Who opened it (login), when the payload says.
    pub author: String,
    pub merged: bool,
    pub draft: bool,
    pub additions: Option<u64>,
    pub deletions: Option<u64>,
    pub changed_files: Option<u64>,
    pub commits: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    pub message: String,
    pub url: String,
    pub author: String,
}

impl Event {
    /// True when `prefix` matches this event's kind as a dotted prefix
    /// (`pull_request` matches `pull_request.merged`; `*` matches all).
    pub fn kind_matches(&self, prefix: &str) -> bool {
        kind_matches(&self.kind, prefix)
    }
}

/// Dotted-prefix matching of event kinds, as `events = [...]` in a route.
///
/// ```
/// use hookbridge::event::kind_matches;
/// assert!(kind_matches("pull_request.merged", "pull_request"));
/// assert!(kind_matches("repo.content.update", "repo"));
/// assert!(kind_matches("push", "*"));
/// assert!(!kind_matches("pull_request_review.submitted", "pull_request"));
/// ```
pub fn kind_matches(kind: &str, prefix: &str) -> bool {
    if prefix == "*" {
        return true;
    }
    match kind.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('.'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::kind_matches;

    #[test]
    fn dotted_prefixes() {
        assert!(kind_matches("pull_request.merged", "pull_request"));
        assert!(kind_matches("pull_request.merged", "pull_request.merged"));
        assert!(!kind_matches(
            "pull_request_review.submitted",
            "pull_request"
        ));
        assert!(kind_matches("repo.content.update", "repo"));
        assert!(kind_matches("repo.content.update", "repo.content"));
        assert!(!kind_matches("repo.content.update", "repo.con"));
        assert!(kind_matches("anything", "*"));
        assert!(!kind_matches("push", "pull_request"));
    }
}

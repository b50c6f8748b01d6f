//! Threads: which item (pull request, issue, merge request, discussion, CI
//! run) an event belongs to, so that a route with `thread = true` keeps the
//! item's events in one thread under a parent card.
//!
//! Owns the thread key (`<source>:<repo>#pr-12`, `#issue-7`, `#mr-3`,
//! `#discussion-19`, `#commit-<sha>`) and which events change an item's
//! state (opened, closed, merged, reopened). Pure functions of the event;
//! the outbox keeps the platform ids each key maps to.

use serde_json::Value;

use crate::event::Event;

/// What an event is about, for threading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadKey(String);

impl ThreadKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as stored (`github:acme/api#pr-12`).
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for ThreadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The item `event` belongs to; `None` for events with no item (push,
/// release, star, …), which post top-level.
pub fn key(event: &Event) -> Option<ThreadKey> {
    let item = match event.source_kind.as_str() {
        "gitlab" => gitlab_item(event),
        "huggingface" => hub_item(event),
        _ => forge_item(event),
    }?;
    Some(ThreadKey(format!(
        "{}:{}#{item}",
        event.source, event.repo.key
    )))
}

/// True when the event changes its item's state in a way the channel
/// should see (`broadcast = true`): opened, closed, merged, reopened.
pub fn is_state_change(event: &Event) -> bool {
    let Some((noun, action)) = event.kind.split_once('.') else {
        return false;
    };
    matches!(noun, "pull_request" | "issues" | "discussion")
        && matches!(
            action,
            "opened" | "closed" | "merged" | "reopened" | "create" | "created"
        )
}

fn num(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn sha(v: &Value) -> Option<&str> {
    v.as_str()
        .filter(|s| !s.is_empty() && !s.bytes().all(|b| b == b'0'))
}

/// GitHub, Gitea, Forgejo, Gogs and DagsHub: GitHub's event names.
fn forge_item(event: &Event) -> Option<String> {
    let p = &event.payload;
    let noun = event.kind.split('.').next().unwrap_or_default();
    let pr = |v: &Value| num(&v["number"]).map(|n| format!("pr-{n}"));
    match noun {
        "pull_request"
        | "pull_request_review"
        | "pull_request_review_comment"
        | "pull_request_review_thread"
        | "pull_request_comment"
        | "pull_request_assign"
        | "pull_request_label"
        | "pull_request_milestone" => pr(&p["pull_request"]).or_else(|| pr(p)),
        "issue_comment" | "issues" | "issue_assign" | "issue_label" | "issue_milestone" => {
            let issue = &p["issue"];
            let n = num(&issue["number"]).or_else(|| num(&p["number"]))?;
            let on_pr = !issue["pull_request"].is_null() || p["is_pull"].as_bool() == Some(true);
            Some(if on_pr {
                format!("pr-{n}")
            } else {
                format!("issue-{n}")
            })
        }
        "discussion" | "discussion_comment" => {
            num(&p["discussion"]["number"]).map(|n| format!("discussion-{n}"))
        }
        "check_run" => ci(&p["check_run"], &p["check_run"]["head_sha"]),
        "check_suite" => ci(&p["check_suite"], &p["check_suite"]["head_sha"]),
        "workflow_run" => ci(&p["workflow_run"], &p["workflow_run"]["head_sha"]),
        "workflow_job" => sha(&p["workflow_job"]["head_sha"]).map(|s| format!("commit-{s}")),
        "status" => sha(&p["sha"]).map(|s| format!("commit-{s}")),
        "deployment_status" | "deployment" => {
            sha(&p["deployment"]["sha"]).map(|s| format!("commit-{s}"))
        }
        _ => None,
    }
}

/// A CI run belongs to its pull request when it has one, else its commit.
fn ci(run: &Value, head_sha: &Value) -> Option<String> {
    if let Some(n) = run["pull_requests"]
        .as_array()
        .and_then(|prs| prs.first())
        .and_then(|pr| num(&pr["number"]))
    {
        return Some(format!("pr-{n}"));
    }
    sha(head_sha).map(|s| format!("commit-{s}"))
}

/// GitLab: merge requests `!iid`, issues `#iid`, notes by what they are on,
/// pipelines by their merge request or commit, jobs by commit.
fn gitlab_item(event: &Event) -> Option<String> {
    let p = &event.payload;
    let attrs = &p["object_attributes"];
    match p["object_kind"].as_str()? {
        "merge_request" => num(&attrs["iid"]).map(|n| format!("mr-{n}")),
        "issue" | "work_item" => num(&attrs["iid"]).map(|n| format!("issue-{n}")),
        "note" => match attrs["noteable_type"].as_str()? {
            "MergeRequest" => num(&p["merge_request"]["iid"]).map(|n| format!("mr-{n}")),
            "Issue" => num(&p["issue"]["iid"]).map(|n| format!("issue-{n}")),
            "Commit" => sha(&p["commit"]["id"]).map(|s| format!("commit-{s}")),
            "Snippet" => num(&p["snippet"]["id"]).map(|n| format!("snippet-{n}")),
            _ => None,
        },
        "pipeline" => num(&p["merge_request"]["iid"])
            .map(|n| format!("mr-{n}"))
            .or_else(|| sha(&attrs["sha"]).map(|s| format!("commit-{s}"))),
        "build" => sha(&p["sha"])
            .or_else(|| sha(&p["commit"]["sha"]))
            .map(|s| format!("commit-{s}")),
        // A deployment names its commit only in `commit_url` (…/-/commit/<sha>).
        "deployment" => p["commit_url"]
            .as_str()
            .and_then(|u| u.rsplit_once("/commit/"))
            .and_then(|(_, s)| sha(&Value::from(s)).map(|s| format!("commit-{s}"))),
        _ => None,
    }
}

/// The Hub: discussions and pull requests share one numbering; a push to
/// `refs/pr/N` belongs to pull request N.
fn hub_item(event: &Event) -> Option<String> {
    let p = &event.payload;
    let d = &p["discussion"];
    if let Some(n) = num(&d["num"]) {
        let noun = if d["isPullRequest"].as_bool() == Some(true) {
            "pr"
        } else {
            "discussion"
        };
        return Some(format!("{noun}-{n}"));
    }
    p["updatedRefs"].as_array()?.iter().find_map(|r| {
        let n = r["ref"].as_str()?.strip_prefix("refs/pr/")?;
        n.parse::<u64>().ok().map(|n| format!("pr-{n}"))
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use poem::http::{HeaderMap, HeaderName, HeaderValue};

    use super::*;
    use crate::config::{SourceConfig, SourceKind};
    use crate::sources::{Delivery, receive};

    /// The event a fixture becomes, sent as `kind` with its `.headers`.
    fn event(kind: SourceKind, rel: &str) -> Event {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let body = std::fs::read(dir.join(format!("{rel}.json"))).unwrap();
        let mut headers = HeaderMap::new();
        if let Ok(text) = std::fs::read_to_string(dir.join(format!("{rel}.headers"))) {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once(':') {
                    headers.insert(
                        HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                        HeaderValue::from_str(v.trim()).unwrap(),
                    );
                }
            }
        }
        let source = SourceConfig {
            name: kind.as_str().into(),
            kind,
            secrets: vec![],
            allow_unsigned: true,
        };
        let delivery = Delivery {
            headers: &headers,
            query: None,
            body: &body,
        };
        receive(&source, &delivery).unwrap_or_else(|e| panic!("{rel}: {}", e.message()))
    }

    fn item(kind: SourceKind, rel: &str) -> Option<String> {
        let key = key(&event(kind, rel))?.into_string();
        Some(key.split_once('#').unwrap().1.to_string())
    }

    #[test]
    fn every_item_event_names_its_item() {
        use SourceKind::*;
        let cases: &[(SourceKind, &str, Option<&str>)] = &[
            (Github, "github/pull_request.opened.1", Some("pr-")),
            (
                Github,
                "github/pull_request.review_requested.1",
                Some("pr-"),
            ),
            (Github, "github/issues.closed.1", Some("issue-")),
            (Github, "github/issue_comment.created.1", Some("")),
            (Github, "github/discussion.created.1", Some("discussion-")),
            (Github, "github/push.1", None),
            (Gitea, "gitea/issue_comment.created.1", Some("pr-")),
            (Gitea, "gitea/issue_comment.created.2", Some("issue-")),
            (Gitea, "gitea/pull_request.opened.1", Some("pr-")),
            (Gogs, "gogs/issue_comment.edited.1", Some("issue-")),
            (Gitlab, "gitlab/merge_request.open.1", Some("mr-")),
            (Gitlab, "gitlab/issue.open.1", Some("issue-")),
            (Gitlab, "gitlab/note.1", Some("issue-")),
            (Gitlab, "gitlab/note.2", Some("commit-")),
            (Gitlab, "gitlab/note.3", Some("snippet-")),
            (Gitlab, "gitlab/build.failed.1", Some("commit-")),
            (Gitlab, "gitlab/deployment.success.1", Some("commit-")),
            (
                Huggingface,
                "huggingface/discussion.create.1",
                Some("pr-19"),
            ),
            (
                Huggingface,
                "huggingface/repo.content.update.1",
                Some("pr-5"),
            ),
            (Huggingface, "huggingface/assembled/repo.create.1", None),
        ];
        for (kind, rel, want) in cases {
            let got = item(*kind, rel);
            match want {
                None => assert_eq!(got, None, "{rel}"),
                Some(prefix) => {
                    let got = got.unwrap_or_else(|| panic!("{rel}: no thread key"));
                    assert!(got.starts_with(prefix), "{rel}: {got}");
                }
            }
        }
    }

    #[test]
    fn a_key_names_the_source_and_repo_and_comments_join_their_item() {
        let opened = event(SourceKind::Github, "github/pull_request.opened.1");
        let k = key(&opened).unwrap();
        let n = opened.payload["pull_request"]["number"].as_u64().unwrap();
        assert_eq!(k.as_str(), format!("github:{}#pr-{n}", opened.repo.key));
        // The Hub's push to refs/pr/5 and the pull request 5 share a thread.
        let push = event(SourceKind::Huggingface, "huggingface/repo.content.update.1");
        assert!(key(&push).unwrap().as_str().ends_with("#pr-5"));
        // A merge, a close and an opening change state; a comment does not.
        assert!(is_state_change(&opened));
        let comment = event(SourceKind::Github, "github/issue_comment.created.1");
        assert!(!is_state_change(&comment));
    }
}

//! GitHub and the forges that speak its payload dialect: Gitea, Forgejo,
//! Gogs and DagsHub. Header names differ per forge; payloads share GitHub's
//! shape, and every forge's event names are mapped onto GitHub's.

use serde_json::Value;

use super::signature::{Algorithm, hmac_matches};
use super::{
    Delivery, Rejection, commits_of, decode_body, first_str, set_push_ref, str_at, u64_at,
};
use crate::config::{SourceConfig, SourceKind};
use crate::event::{Actor, Event, PullRequest, Repo};

/// The header names one forge sends.
struct Headers {
    /// Hex HMAC-SHA256, no prefix (GitHub's carries `sha256=` and is handled apart).
    signature: &'static [&'static str],
    event: &'static [&'static str],
    event_type: &'static [&'static str],
    delivery: &'static [&'static str],
}

fn headers(kind: SourceKind) -> Headers {
    match kind {
        SourceKind::Gitea => Headers {
            signature: &["x-gitea-signature"],
            event: &["x-gitea-event"],
            event_type: &["x-gitea-event-type"],
            delivery: &["x-gitea-delivery"],
        },
        SourceKind::Forgejo => Headers {
            signature: &["x-forgejo-signature", "x-gitea-signature"],
            event: &["x-forgejo-event", "x-gitea-event"],
            event_type: &["x-forgejo-event-type", "x-gitea-event-type"],
            delivery: &["x-forgejo-delivery", "x-gitea-delivery"],
        },
        SourceKind::Gogs => Headers {
            signature: &["x-gogs-signature"],
            event: &["x-gogs-event"],
            event_type: &[],
            delivery: &["x-gogs-delivery"],
        },
        SourceKind::Dagshub => Headers {
            signature: &["x-dagshub-signature"],
            event: &["x-dagshub-event"],
            event_type: &[],
            delivery: &["x-dagshub-delivery"],
        },
        // GitHub (and anything routed here by mistake)
        _ => Headers {
            signature: &[],
            event: &["x-github-event"],
            event_type: &[],
            delivery: &["x-github-delivery"],
        },
    }
}

pub(super) fn verify(source: &SourceConfig, d: &Delivery<'_>) -> Result<(), Rejection> {
    let (alg, hex, header) = if source.kind == SourceKind::Github {
        if let Some(v) = d.header("x-hub-signature-256") {
            let hex = v.strip_prefix("sha256=").ok_or_else(|| {
                Rejection::Unauthorized("X-Hub-Signature-256 must be `sha256=<hex>`".into())
            })?;
            (Algorithm::Sha256, hex, "X-Hub-Signature-256")
        } else if let Some(v) = d.header("x-hub-signature") {
            let hex = v.strip_prefix("sha1=").ok_or_else(|| {
                Rejection::Unauthorized("X-Hub-Signature must be `sha1=<hex>`".into())
            })?;
            (Algorithm::Sha1, hex, "X-Hub-Signature")
        } else {
            return Err(Rejection::Unauthorized(
                "missing X-Hub-Signature-256 header; set the webhook's secret at GitHub".into(),
            ));
        }
    } else {
        let names = headers(source.kind).signature;
        match d.first_header(names) {
            Some(v) => (Algorithm::Sha256, v, names[0]),
            None => {
                return Err(Rejection::Unauthorized(format!(
                    "missing {} header; set the webhook's secret at the {} side",
                    names.first().copied().unwrap_or("signature"),
                    source.kind
                )));
            }
        }
    };
    if hmac_matches(alg, &source.secrets, d.body, hex) {
        Ok(())
    } else {
        Err(Rejection::Unauthorized(format!(
            "{header} does not match the body under the configured secret"
        )))
    }
}

/// Events Gitea and Forgejo send under GitHub's own name.
const SAME_AS_GITHUB: &[&str] = &[
    "create",
    "delete",
    "fork",
    "push",
    "issues",
    "issue_comment",
    "pull_request",
    "pull_request_review",
    "release",
    "repository",
    "package",
    "status",
    "workflow_run",
    "workflow_job",
    "workflow_dispatch",
    "merge_group",
];

/// Gitea's and Forgejo's internal event names (what the `-Type` header
/// carries, and what old versions sent as the event itself; see Gitea's
/// `modules/webhook/type.go`), each with the GitHub event it is. `None`
/// for a name these forges are not known to send.
fn gitea_event(name: &str) -> Option<&str> {
    let github = match name {
        "issue_assign" | "issue_label" | "issue_milestone" => "issues",
        "pull_request_assign"
        | "pull_request_label"
        | "pull_request_milestone"
        | "pull_request_sync"
        | "pull_request_review_request" => "pull_request",
        // A comment on a pull request's conversation: GitHub's is an issue comment.
        "pull_request_comment" => "issue_comment",
        // A review, by verdict; `pull_request_approved` / `_rejected` are
        // what Gitea sends as the coarse event header for the first two.
        "pull_request_review_approved"
        | "pull_request_review_rejected"
        | "pull_request_review_comment"
        | "pull_request_approved"
        | "pull_request_rejected" => "pull_request_review",
        // GitHub calls its wiki event `gollum`.
        "wiki" => "gollum",
        // Forgejo's own, with no GitHub counterpart: kept as they are.
        "schedule" | "action_run_failure" | "action_run_recover" | "action_run_success" => name,
        _ if SAME_AS_GITHUB.contains(&name) => name,
        _ => return None,
    };
    Some(github)
}

/// Which of a delivery's event names to read: `-Type` (Gitea, Forgejo) when
/// present, as it tells apart what the coarse event header groups (a label
/// change from an issue edit, a review verdict, a review request).
///
/// A `-Type` value [`gitea_event`] does not know yet gives way to the coarse
/// header when that is one of GitHub's event names: Gitea groups its finer
/// types under those (as it did `pull_request_review_request` under
/// `pull_request`), so a new type still reaches the routes of its family.
/// A coarse value of Gitea's own (`pull_request_comment`, which Gitea sends
/// for a *review* comment, or empty, for types older versions do not group)
/// would mislead or say nothing: the `-Type` value is kept then.
fn pick_event<'a>(event_type: Option<&'a str>, event: Option<&'a str>) -> Option<&'a str> {
    match (event_type, event) {
        (Some(t), Some(e)) if gitea_event(t).is_none() && SAME_AS_GITHUB.contains(&e) => Some(e),
        (Some(t), _) => Some(t),
        (None, e) => e,
    }
}

/// Maps a forge's event name (and the payload's action) onto GitHub's.
/// Returns (event, action).
fn github_names(kind: SourceKind, event: &str, action: Option<&str>) -> (String, Option<String>) {
    if kind == SourceKind::Github {
        return (event.to_string(), action.map(str::to_string));
    }
    // Gogs and DagsHub send a subset of Gitea's names.
    let event = gitea_event(event).unwrap_or(event);
    let action = action.map(|a| match (event, a) {
        (_, "synchronized") => "synchronize".to_string(),
        // Gitea's one action for every review; GitHub's is `submitted`
        // (the verdict stays in `review.type` / `review.state`).
        ("pull_request_review", "reviewed") => "submitted".to_string(),
        (_, other) => other.to_string(),
    });
    (event.to_string(), action)
}

/// The first of `names` present with a non-empty value.
fn named<'a>(d: &'a Delivery<'_>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .filter_map(|n| d.header(n))
        .find(|v| !v.is_empty())
}

pub(super) fn parse(kind: SourceKind, d: &Delivery<'_>) -> Result<Event, Rejection> {
    let h = headers(kind);
    let payload = decode_body(d, true)?;
    let raw_event = pick_event(named(d, h.event_type), named(d, h.event)).ok_or_else(|| {
        Rejection::BadRequest(format!(
            "missing {} header: cannot tell which event this is",
            h.event.first().copied().unwrap_or("event")
        ))
    })?;
    let action = str_at(&payload, &["action"]);
    let (event_name, action) = github_names(kind, raw_event, action);

    let merged = payload
        .pointer("/pull_request/merged")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let kind_name = match action.as_deref() {
        Some("closed") if event_name == "pull_request" && merged => "pull_request.merged".into(),
        Some(a) if !a.is_empty() => format!("{event_name}.{a}"),
        _ => event_name.clone(),
    };

    let mut ev = Event {
        delivery_id: d.first_header(h.delivery).unwrap_or_default().to_string(),
        kind: kind_name,
        repo: repo_of(&payload),
        actor: actor_of(&payload),
        ..Event::default()
    };
    ev.url = ev.repo.url.clone();

    match event_name.as_str() {
        "push" => fill_push(&mut ev, &payload),
        "pull_request" | "pull_request_review" | "pull_request_review_comment" => {
            fill_pull_request(&mut ev, &payload)
        }
        "issues" | "issue_comment" => fill_issue(&mut ev, &payload),
        "create" | "delete" => {
            // Gogs sends the full ref here; GitHub and Gitea the short name.
            let full = str_at(&payload, &["ref"]).unwrap_or_default();
            let r#ref = full
                .strip_prefix("refs/heads/")
                .or_else(|| full.strip_prefix("refs/tags/"))
                .unwrap_or(full)
                .to_string();
            match str_at(&payload, &["ref_type"]) {
                Some("tag") => ev.tag = Some(r#ref.clone()),
                _ => ev.branch = Some(r#ref.clone()),
            }
            ev.title = r#ref;
        }
        "release" => {
            let rel = payload.get("release").unwrap_or(&Value::Null);
            ev.tag = str_at(rel, &["tag_name"]).map(str::to_string);
            ev.title = first_str(rel, &[&["name"], &["tag_name"]]);
            ev.body = first_str(rel, &[&["body"]]);
            // Gogs sends no page URL (its `url` is the API's): the
            // releases page is there on every forge.
            ev.url = first_str(rel, &[&["html_url"]]);
            if ev.url.is_empty() && !ev.repo.url.is_empty() {
                ev.url = format!("{}/releases", ev.repo.url.trim_end_matches('/'));
            }
        }
        "fork" => {
            ev.title = first_str(&payload, &[&["forkee", "full_name"]]);
            let u = first_str(&payload, &[&["forkee", "html_url"]]);
            if !u.is_empty() {
                ev.url = u;
            }
        }
        "workflow_run" | "workflow_job" | "check_run" | "check_suite" => {
            let run = payload.get(event_name.as_str()).unwrap_or(&Value::Null);
            ev.title = first_str(run, &[&["display_title"], &["name"]]);
            ev.branch = str_at(run, &["head_branch"]).map(str::to_string);
            let u = first_str(run, &[&["html_url"]]);
            if !u.is_empty() {
                ev.url = u;
            }
        }
        "ping" => ev.title = first_str(&payload, &[&["zen"]]),
        _ => {
            // Not modelled in detail: take what commonly appears.
            ev.title = first_str(
                &payload,
                &[
                    &["pull_request", "title"],
                    &["issue", "title"],
                    &["release", "name"],
                ],
            );
        }
    }
    if let Some(comment) = payload.get("comment") {
        ev.body = first_str(comment, &[&["body"]]);
        let u = first_str(comment, &[&["html_url"]]);
        if !u.is_empty() {
            ev.url = u;
        }
    }
    if let Some(review) = payload.get("review") {
        let body = first_str(review, &[&["body"], &["content"]]);
        if !body.is_empty() {
            ev.body = body;
        }
        let u = first_str(review, &[&["html_url"]]);
        if !u.is_empty() {
            ev.url = u;
        }
    }
    if ev.actor.name.is_empty() {
        // Old Gogs/Gitea payloads may lack a sender: the author of the
        // thing itself is the next best answer to "who".
        ev.actor.name = first_str(
            &payload,
            &[
                &["comment", "user", "login"],
                &["comment", "user", "username"],
                &["issue", "user", "login"],
                &["issue", "user", "username"],
                &["pull_request", "user", "login"],
                &["pull_request", "user", "username"],
                &["release", "author", "login"],
                &["release", "author", "username"],
                &["review", "user", "login"],
            ],
        );
    }
    ev.payload = payload;
    Ok(ev)
}

fn repo_of(p: &Value) -> Repo {
    let Some(r) = p.get("repository").filter(|r| r.is_object()) else {
        return Repo::default();
    };
    let name = first_str(r, &[&["full_name"]]);
    let name = if name.is_empty() {
        let owner = first_str(r, &[&["owner", "login"], &["owner", "username"]]);
        let short = first_str(r, &[&["name"]]);
        match (owner.is_empty(), short.is_empty()) {
            (false, false) => format!("{owner}/{short}"),
            _ => short,
        }
    } else {
        name
    };
    Repo {
        key: name.clone(),
        name,
        url: first_str(r, &[&["html_url"], &["url"]]),
        repo_type: String::new(),
    }
}

fn actor_of(p: &Value) -> Actor {
    let name = first_str(
        p,
        &[
            &["sender", "login"],
            &["sender", "username"],
            &["pusher", "login"],
            &["pusher", "username"],
            &["pusher", "name"],
        ],
    );
    Actor {
        url: first_str(p, &[&["sender", "html_url"]]),
        name,
    }
}

fn fill_push(ev: &mut Event, p: &Value) {
    set_push_ref(ev, str_at(p, &["ref"]).unwrap_or_default());
    ev.commits = commits_of(p);
    ev.total_commits = u64_at(p, &["total_commits"])
        .or_else(|| u64_at(p, &["size"]))
        .map(|n| n as usize)
        .unwrap_or(ev.commits.len())
        .max(ev.commits.len());
    ev.compare_url = first_str(p, &[&["compare"], &["compare_url"]]);
    // A new branch on Gitea/Gogs compares against the all-zero commit, a
    // page that does not exist: link the head commit instead.
    let before = str_at(p, &["before"]).unwrap_or_default();
    if !before.is_empty() && before.bytes().all(|b| b == b'0') && ev.compare_url.contains(before) {
        ev.compare_url = ev.commits.last().map(|c| c.url.clone()).unwrap_or_default();
    }
    if !ev.compare_url.is_empty() {
        ev.url = ev.compare_url.clone();
    }
}

fn labels_of(v: &Value) -> Vec<String> {
    v.get("labels")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.get("name").and_then(Value::as_str).or_else(|| l.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn fill_pull_request(ev: &mut Event, p: &Value) {
    let pr = p.get("pull_request").unwrap_or(&Value::Null);
    ev.number = u64_at(pr, &["number"]).or_else(|| u64_at(p, &["number"]));
    ev.title = first_str(pr, &[&["title"]]);
    ev.body = first_str(pr, &[&["body"]]);
    let u = first_str(pr, &[&["html_url"]]);
    if !u.is_empty() {
        ev.url = u;
    }
    ev.labels = labels_of(pr);
    let base = first_str(pr, &[&["base", "ref"], &["base_branch"]]);
    let mut head = first_str(pr, &[&["head", "ref"], &["head_branch"]]);
    // From a fork: `owner:branch`, as GitHub shows it (`main ← main` says
    // nothing when the head lives in another repository).
    let head_repo = first_str(pr, &[&["head", "repo", "full_name"]]);
    let base_repo = first_str(pr, &[&["base", "repo", "full_name"]]);
    if !head.is_empty() && !head_repo.is_empty() && !base_repo.is_empty() && head_repo != base_repo
    {
        let owner = head_repo.split('/').next().unwrap_or_default();
        head = format!("{owner}:{head}");
    }
    if !base.is_empty() {
        ev.branch = Some(base.clone());
    }
    let author = first_str(pr, &[&["user", "login"], &["user", "username"]]);
    ev.pull_request = Some(PullRequest {
        base,
        head,
        author: author.clone(),
        merged: pr.get("merged").and_then(Value::as_bool).unwrap_or(false),
        draft: pr.get("draft").and_then(Value::as_bool).unwrap_or(false),
        additions: u64_at(pr, &["additions"]),
        deletions: u64_at(pr, &["deletions"]),
        changed_files: u64_at(pr, &["changed_files"]),
        commits: u64_at(pr, &["commits"]),
    });
    if ev.actor.name.is_empty() {
        ev.actor.name = author;
    }
}

fn fill_issue(ev: &mut Event, p: &Value) {
    let issue = p.get("issue").unwrap_or(&Value::Null);
    if issue.is_null() {
        // Gitea's pull_request_comment carries the PR, not an issue.
        if p.get("pull_request").is_some() {
            fill_pull_request(ev, p);
        }
        return;
    }
    ev.number = u64_at(issue, &["number"]).or_else(|| u64_at(p, &["number"]));
    ev.title = first_str(issue, &[&["title"]]);
    ev.body = first_str(issue, &[&["body"]]);
    let u = first_str(issue, &[&["html_url"]]);
    if !u.is_empty() {
        ev.url = u;
    }
    ev.labels = labels_of(issue);
    // Gitea and Gogs send no page URL for an issue (Gitea's `url` is the
    // API's): `<repo>/issues/<n>` is the page on both (and redirects to a
    // pull request's).
    if ev.url == ev.repo.url
        && let Some(n) = ev.number
        && !ev.repo.url.is_empty()
    {
        ev.url = format!("{}/issues/{n}", ev.repo.url.trim_end_matches('/'));
    }
}

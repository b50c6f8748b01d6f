//! GitHub and the forges that speak its payload dialect: Gitea, Forgejo,
//! Gogs and DagsHub. Header names differ per forge; payloads share GitHub's
//! shape, and every forge's event names are mapped onto GitHub's.

use serde_json::Value;

use super::signature::{Algorithm, hmac_matches};
use super::{Delivery, Rejection, decode_body, first_str, set_push_ref, str_at, u64_at};
use crate::config::{SourceConfig, SourceKind};
use crate::event::{
    Actor, Alert, Ci, Comment, Event, Item, Link, Page, PullRequest, Repo, Review, seconds_between,
};

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

/// The headers [`parse`] reads besides the delivery id: the event names.
pub(super) fn parse_headers(kind: SourceKind) -> Vec<&'static str> {
    let h = headers(kind);
    h.event.iter().chain(h.event_type).copied().collect()
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
    let action = match action {
        Some(a) if a == "closed" && event_name == "pull_request" && merged => "merged".to_string(),
        Some(a) => a,
        None => String::new(),
    };
    let kind_name = if action.is_empty() {
        event_name.clone()
    } else {
        format!("{event_name}.{action}")
    };

    let base = web_base(&payload);
    let mut ev = Event {
        delivery_id: d.first_header(h.delivery).unwrap_or_default().to_string(),
        kind: kind_name,
        action,
        repo: repo_of(payload.get("repository")),
        actor: actor_of(&payload, &base),
        ..Event::default()
    };
    ev.url = ev.repo.url.clone();

    let f = Forge { kind, base: &base };
    match event_name.as_str() {
        "push" => fill_push(&mut ev, f, &payload),
        "pull_request" | "pull_request_review" | "pull_request_review_comment" => {
            fill_pull_request(&mut ev, f, &payload)
        }
        "issues" | "issue_comment" => fill_issue(&mut ev, f, &payload),
        "create" | "delete" => fill_ref(&mut ev, f, &event_name, &payload),
        "release" => fill_release(&mut ev, f, &payload),
        "fork" => fill_fork(&mut ev, &payload),
        "commit_comment" => fill_commit_comment(&mut ev, &payload),
        "discussion" | "discussion_comment" => fill_discussion(&mut ev, f, &payload),
        "gollum" => fill_gollum(&mut ev, &payload),
        "member" => {
            ev.member = person(payload.get("member"), &base);
            ev.title = ev
                .member
                .as_ref()
                .map(|m| m.name.clone())
                .unwrap_or_default();
        }
        "workflow_run" | "workflow_job" | "check_run" | "check_suite" => {
            fill_run(&mut ev, &event_name, &payload)
        }
        "status" => fill_status(&mut ev, &payload),
        "deployment" | "deployment_status" => fill_deployment(&mut ev, &event_name, &payload),
        "dependabot_alert"
        | "code_scanning_alert"
        | "secret_scanning_alert"
        | "repository_vulnerability_alert" => fill_alert(&mut ev, &event_name, &payload),
        "ping" => ev.title = first_str(&payload, &[&["zen"]]),
        other => {
            // Not modelled in detail: take what commonly appears, and name
            // the thing the event is about after the event (`label`,
            // `milestone`, `project_card`), so a generic template can say
            // "octocat created label bug".
            ev.title = first_str(
                &payload,
                &[
                    &["pull_request", "title"],
                    &["issue", "title"],
                    &["release", "name"],
                ],
            );
            if let Some(thing) = payload.get(other).filter(|v| v.is_object()) {
                let title = first_str(thing, &[&["title"], &["name"], &["login"], &["slug"]]);
                let url = first_str(thing, &[&["html_url"]]);
                if ev.title.is_empty() {
                    ev.title = title.clone();
                }
                if !url.is_empty() {
                    ev.url = url.clone();
                }
                let number = u64_at(thing, &["number"]);
                ev.item = Some(Item {
                    item_type: other.to_string(),
                    noun: other.replace('_', " "),
                    reference: number.map(|n| format!("#{n}")).unwrap_or_default(),
                    number,
                    title,
                    url,
                    state: first_str(thing, &[&["state"]]),
                    category: String::new(),
                });
            }
        }
    }
    if ev.comment.is_none()
        && let Some(c) = payload.get("comment").filter(|c| c.is_object())
    {
        // A comment on something not modelled above.
        let comment = comment_of(c);
        ev.body = comment.body.clone();
        if !comment.url.is_empty() {
            ev.url = comment.url.clone();
        }
        ev.comment = Some(comment);
    }
    if ev.actor.name.is_empty() {
        // Old Gogs/Gitea payloads may lack a sender: the author of the
        // thing itself is the next best answer to "who".
        for path in [
            "/comment/user",
            "/issue/user",
            "/pull_request/user",
            "/release/author",
            "/review/user",
        ] {
            if let Some(p) = person(payload.pointer(path), &base) {
                ev.actor = p;
                break;
            }
        }
    }
    ev.payload = payload;
    Ok(ev)
}

/// What the fill functions need to know about the sender.
#[derive(Clone, Copy)]
struct Forge<'a> {
    kind: SourceKind,
    /// The forge's web root (`https://github.com`), for links the payload
    /// does not carry.
    base: &'a str,
}

/// The web root of the forge: the repository's page minus its name.
fn web_base(p: &Value) -> String {
    let url = first_str(p, &[&["repository", "html_url"]]);
    let name = first_str(p, &[&["repository", "full_name"]]);
    if name.is_empty() {
        return String::new();
    }
    url.trim_end_matches('/')
        .strip_suffix(&format!("/{name}"))
        .unwrap_or_default()
        .to_string()
}

fn repo_of(r: Option<&Value>) -> Repo {
    let Some(r) = r.filter(|r| r.is_object()) else {
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

/// A user, team or app object as a person: the login is the name forges
/// of GitHub's dialect show; the profile link is made from the forge's
/// root when the object carries none (Gitea, Gogs).
fn person(v: Option<&Value>, base: &str) -> Option<Actor> {
    let v = v.filter(|v| v.is_object())?;
    let login = first_str(v, &[&["login"], &["username"], &["slug"]]);
    // Teams have a name and a slug; people a login.
    let name = if v.get("login").is_some() || v.get("username").is_some() {
        login.clone()
    } else {
        first_str(v, &[&["name"], &["slug"]])
    };
    if name.is_empty() {
        return None;
    }
    let mut url = first_str(v, &[&["html_url"]]);
    if url.is_empty() && !base.is_empty() && !login.is_empty() {
        url = format!("{base}/{login}");
    }
    Some(Actor {
        name,
        url,
        login,
        avatar_url: first_str(v, &[&["avatar_url"]]),
    })
}

fn people(v: Option<&Value>, base: &str) -> Vec<Actor> {
    v.and_then(Value::as_array)
        .map(|vs| vs.iter().filter_map(|p| person(Some(p), base)).collect())
        .unwrap_or_default()
}

fn actor_of(p: &Value, base: &str) -> Actor {
    if let Some(a) = person(p.get("sender"), base) {
        return a;
    }
    // A push's pusher: GitHub sends `{name, email}`, Gogs a user object.
    let name = first_str(
        p,
        &[
            &["pusher", "login"],
            &["pusher", "username"],
            &["pusher", "name"],
        ],
    );
    Actor {
        url: if name.is_empty() || base.is_empty() {
            String::new()
        } else {
            format!("{base}/{name}")
        },
        login: name.clone(),
        name,
        avatar_url: first_str(p, &[&["pusher", "avatar_url"]]),
    }
}

pub(super) fn is_zero_sha(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == b'0')
}

fn bool_at(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

/// `text` up to its first line break.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}

pub(super) fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

fn fill_push(ev: &mut Event, f: Forge<'_>, p: &Value) {
    set_push_ref(ev, str_at(p, &["ref"]).unwrap_or_default());
    let before = str_at(p, &["before"]).unwrap_or_default();
    let after = str_at(p, &["after"]).unwrap_or_default();
    ev.created = bool_at(p, "created").unwrap_or(is_zero_sha(before));
    ev.deleted = bool_at(p, "deleted").unwrap_or(is_zero_sha(after));
    ev.forced = bool_at(p, "forced").unwrap_or(false);

    let pusher: Vec<String> = [
        &["pusher", "login"][..],
        &["pusher", "username"],
        &["pusher", "name"],
        &["pusher", "email"],
        &["sender", "login"],
        &["sender", "username"],
    ]
    .iter()
    .filter_map(|path| str_at(p, path))
    .map(str::to_string)
    .collect();
    let mut commits = super::commits_of(p);
    if let Some(raw) = p.get("commits").and_then(Value::as_array) {
        for (c, raw) in commits.iter_mut().zip(raw) {
            c.by_pusher = wrote_it(&pusher, raw.get("author"));
        }
    }
    // GitHub lists a push's commits oldest first; Gitea and Gogs newest
    // first. The head commit (`after`) says which, when it is listed.
    let newest_first = match (commits.first(), commits.last()) {
        (Some(a), Some(b)) if commits.len() > 1 && a.id != b.id => a.id == after,
        _ => !matches!(f.kind, SourceKind::Github),
    };
    if !newest_first {
        commits.reverse();
    }
    ev.commits = commits;
    ev.total_commits = u64_at(p, &["total_commits"])
        .or_else(|| u64_at(p, &["size"]))
        .map(|n| n as usize)
        .unwrap_or(ev.commits.len())
        .max(ev.commits.len());

    ev.compare_url = first_str(p, &[&["compare"], &["compare_url"]]);
    if ev.deleted {
        // Nothing to compare with a ref that is gone (the link GitHub
        // sends ends in zeros).
        ev.compare_url.clear();
    } else if is_zero_sha(before) && ev.compare_url.contains(before) {
        // A new branch on Gitea/Gogs compares against the all-zero
        // commit, a page that does not exist: link the head commit.
        ev.compare_url = ev
            .commits
            .first()
            .map(|c| c.url.clone())
            .unwrap_or_default();
    }
    if !ev.compare_url.is_empty() {
        ev.url = ev.compare_url.clone();
    }
}

/// True when the commit `author` object is one of the pusher's names.
pub(super) fn wrote_it(pusher: &[String], author: Option<&Value>) -> bool {
    let Some(author) = author else {
        return false;
    };
    ["username", "login", "name", "email"]
        .iter()
        .filter_map(|k| author.get(k).and_then(Value::as_str))
        .filter(|v| !v.is_empty() && (!v.contains('[') || v.contains('@')))
        .any(|v| {
            pusher
                .iter()
                .any(|p| !p.is_empty() && p.eq_ignore_ascii_case(v))
        })
}

fn fill_ref(ev: &mut Event, f: Forge<'_>, event_name: &str, p: &Value) {
    // Gogs sends the full ref here; GitHub and Gitea the short name.
    let full = str_at(p, &["ref"]).unwrap_or_default();
    let r#ref = full
        .strip_prefix("refs/heads/")
        .or_else(|| full.strip_prefix("refs/tags/"))
        .unwrap_or(full)
        .to_string();
    let tag = str_at(p, &["ref_type"]) == Some("tag");
    if tag {
        ev.tag = Some(r#ref.clone());
    } else {
        ev.branch = Some(r#ref.clone());
    }
    ev.title = r#ref.clone();
    if event_name == "create" {
        ev.created = true;
        // Every forge also sends a push for a new branch or tag.
        ev.covered_by = "push".into();
        let repo = ev.repo.url.trim_end_matches('/');
        if !repo.is_empty() && !r#ref.is_empty() {
            ev.url = match (f.kind, tag) {
                (SourceKind::Github, _) => format!("{repo}/tree/{ref}"),
                (SourceKind::Gitea | SourceKind::Forgejo, false) => {
                    format!("{repo}/src/branch/{ref}")
                }
                (SourceKind::Gitea | SourceKind::Forgejo, true) => format!("{repo}/src/tag/{ref}"),
                _ => format!("{repo}/src/{ref}"),
            };
        }
    } else {
        ev.deleted = true;
        // GitHub also sends a push with `deleted: true`; Gitea and Gogs
        // send the deletion only as this event.
        if f.kind == SourceKind::Github {
            ev.covered_by = "push".into();
        }
    }
}

fn fill_release(ev: &mut Event, f: Forge<'_>, p: &Value) {
    let rel = p.get("release").unwrap_or(&Value::Null);
    ev.tag = str_at(rel, &["tag_name"]).map(str::to_string);
    ev.title = first_str(rel, &[&["name"], &["tag_name"]]);
    ev.body = first_str(rel, &[&["body"]]);
    // Gogs sends no page URL (its `url` is the API's): the releases page
    // is there on every forge.
    ev.url = first_str(rel, &[&["html_url"]]);
    if ev.url.is_empty() && !ev.repo.url.is_empty() {
        ev.url = format!("{}/releases", ev.repo.url.trim_end_matches('/'));
    }
    let draft = bool_at(rel, "draft").unwrap_or(false);
    let prerelease = bool_at(rel, "prerelease").unwrap_or(false);
    ev.item = Some(Item {
        item_type: "release".into(),
        noun: if draft {
            "draft release"
        } else if prerelease {
            "pre-release"
        } else {
            "release"
        }
        .into(),
        title: ev.title.clone(),
        url: ev.url.clone(),
        state: if draft { "draft" } else { "published" }.into(),
        ..Item::default()
    });
    // GitHub sends `created` and `released` (or `prereleased`) along with
    // `published` for one release; a draft is not public until published.
    if f.kind == SourceKind::Github
        && matches!(ev.action.as_str(), "created" | "released" | "prereleased")
    {
        ev.covered_by = "release.published".into();
    }
}

fn fill_fork(ev: &mut Event, p: &Value) {
    let forkee = p.get("forkee");
    let forkee_is_new = forkee.and_then(|f| bool_at(f, "fork")).unwrap_or(false);
    let repository_is_new = p
        .get("repository")
        .and_then(|r| bool_at(r, "fork"))
        .unwrap_or(false);
    let (original, new) = if !forkee_is_new && repository_is_new {
        // Gitea: `repository` is the new fork, `forkee` the original.
        (repo_of(forkee), repo_of(p.get("repository")))
    } else {
        (repo_of(p.get("repository")), repo_of(forkee))
    };
    if !original.key.is_empty() {
        ev.repo = original;
    }
    if !new.key.is_empty() {
        ev.title = new.name.clone();
        if !new.url.is_empty() {
            ev.url = new.url.clone();
        }
        ev.fork = Some(new);
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

fn comment_of(c: &Value) -> Comment {
    Comment {
        body: first_str(c, &[&["body"]]),
        url: first_str(c, &[&["html_url"]]),
        path: first_str(c, &[&["path"]]),
        line: u64_at(c, &["line"])
            .or_else(|| u64_at(c, &["original_line"]))
            .or_else(|| u64_at(c, &["position"])),
    }
}

/// The people, labels and reviewers an issue or pull request event names.
fn fill_people(ev: &mut Event, item: &Value, p: &Value, base: &str) {
    ev.labels = labels_of(item);
    ev.assignees = people(item.get("assignees"), base);
    if ev.assignees.is_empty()
        && let Some(a) = person(item.get("assignee"), base)
    {
        ev.assignees.push(a);
    }
    // GitHub names who was assigned at the top; Gitea and Gogs only in the
    // item itself.
    ev.assignee = person(p.get("assignee"), base).or_else(|| {
        (p.get("action").and_then(Value::as_str) == Some("assigned"))
            .then(|| person(item.get("assignee"), base))
            .flatten()
    });
    ev.label = str_at(p, &["label", "name"]).map(str::to_string);
    ev.requested_reviewers = people(item.get("requested_reviewers"), base);
    ev.requested_reviewers
        .extend(people(item.get("requested_teams"), base));
    ev.requested_reviewer =
        person(p.get("requested_reviewer"), base).or_else(|| person(p.get("requested_team"), base));
}

fn fill_pull_request(ev: &mut Event, f: Forge<'_>, p: &Value) {
    let pr = p.get("pull_request").unwrap_or(&Value::Null);
    ev.number = u64_at(pr, &["number"]).or_else(|| u64_at(p, &["number"]));
    ev.title = first_str(pr, &[&["title"]]);
    ev.body = first_str(pr, &[&["body"]]);
    let u = first_str(pr, &[&["html_url"]]);
    if !u.is_empty() {
        ev.url = u;
    }
    fill_people(ev, pr, p, f.base);
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
    let merged = bool_at(pr, "merged").unwrap_or(false);
    let draft = bool_at(pr, "draft").unwrap_or(false);
    ev.pull_request = Some(PullRequest {
        base,
        head,
        author: author.clone(),
        merged,
        draft,
        additions: u64_at(pr, &["additions"]),
        deletions: u64_at(pr, &["deletions"]),
        changed_files: u64_at(pr, &["changed_files"]),
        commits: u64_at(pr, &["commits"]),
    });
    let pr_url = first_str(pr, &[&["html_url"]]);
    ev.item = Some(Item {
        item_type: "pull_request".into(),
        noun: "pull request".into(),
        reference: ev.number.map(|n| format!("#{n}")).unwrap_or_default(),
        number: ev.number,
        title: ev.title.clone(),
        url: if pr_url.is_empty() {
            ev.url.clone()
        } else {
            pr_url
        },
        state: if merged {
            "merged".into()
        } else if draft {
            "draft".into()
        } else {
            first_str(pr, &[&["state"]])
        },
        category: String::new(),
    });
    if ev.actor.name.is_empty() {
        ev.actor = person(pr.get("user"), f.base).unwrap_or_default();
    }
    if let Some(review) = p.get("review").filter(|r| r.is_object()) {
        let body = first_str(review, &[&["body"], &["content"]]);
        if !body.is_empty() {
            ev.body = body.clone();
        }
        let url = first_str(review, &[&["html_url"]]);
        if !url.is_empty() {
            ev.url = url.clone();
        }
        let state = first_str(review, &[&["state"], &["type"]]).to_ascii_lowercase();
        let state = match state.as_str() {
            "pull_request_review_approved" => "approved".to_string(),
            "pull_request_review_rejected" => "changes_requested".to_string(),
            "pull_request_review_comment" => "commented".to_string(),
            _ if ev.action == "dismissed" => "dismissed".to_string(),
            _ => state,
        };
        ev.review = Some(Review { state, body, url });
    }
    if let Some(c) = p.get("comment").filter(|c| c.is_object()) {
        let comment = comment_of(c);
        ev.body = comment.body.clone();
        if !comment.url.is_empty() {
            ev.url = comment.url.clone();
        }
        ev.comment = Some(comment);
    }
}

fn fill_issue(ev: &mut Event, f: Forge<'_>, p: &Value) {
    let issue = p.get("issue").unwrap_or(&Value::Null);
    if issue.is_null() {
        // Gitea's pull_request_comment carries the PR, not an issue.
        if p.get("pull_request").is_some() {
            fill_pull_request(ev, f, p);
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
    fill_people(ev, issue, p, f.base);
    // Gitea and Gogs send no page URL for an issue (Gitea's `url` is the
    // API's): `<repo>/issues/<n>` is the page on both (and redirects to a
    // pull request's).
    if ev.url == ev.repo.url
        && let Some(n) = ev.number
        && !ev.repo.url.is_empty()
    {
        ev.url = format!("{}/issues/{n}", ev.repo.url.trim_end_matches('/'));
    }
    // A pull request's conversation is an issue's on GitHub's side.
    let is_pull = issue.get("pull_request").is_some_and(|v| !v.is_null())
        || bool_at(p, "is_pull").unwrap_or(false);
    ev.item = Some(Item {
        item_type: if is_pull { "pull_request" } else { "issue" }.into(),
        noun: if is_pull { "pull request" } else { "issue" }.into(),
        reference: ev.number.map(|n| format!("#{n}")).unwrap_or_default(),
        number: ev.number,
        title: ev.title.clone(),
        url: ev.url.clone(),
        state: first_str(issue, &[&["state"]]),
        category: String::new(),
    });
    if let Some(c) = p.get("comment").filter(|c| c.is_object()) {
        let comment = comment_of(c);
        ev.body = comment.body.clone();
        if !comment.url.is_empty() {
            ev.url = comment.url.clone();
        }
        ev.comment = Some(comment);
    }
}

fn fill_commit_comment(ev: &mut Event, p: &Value) {
    let c = p.get("comment").unwrap_or(&Value::Null);
    let sha = first_str(c, &[&["commit_id"]]);
    let repo = ev.repo.url.trim_end_matches('/').to_string();
    let comment = comment_of(c);
    ev.body = comment.body.clone();
    ev.item = Some(Item {
        item_type: "commit".into(),
        noun: "commit".into(),
        reference: short_sha(&sha),
        title: short_sha(&sha),
        url: if repo.is_empty() || sha.is_empty() {
            String::new()
        } else {
            format!("{repo}/commit/{sha}")
        },
        ..Item::default()
    });
    ev.title = short_sha(&sha);
    if !comment.url.is_empty() {
        ev.url = comment.url.clone();
    }
    ev.comment = Some(comment);
}

fn fill_discussion(ev: &mut Event, f: Forge<'_>, p: &Value) {
    let d = p.get("discussion").unwrap_or(&Value::Null);
    ev.number = u64_at(d, &["number"]);
    ev.title = first_str(d, &[&["title"]]);
    ev.body = first_str(d, &[&["body"]]);
    let url = first_str(d, &[&["html_url"]]);
    if !url.is_empty() {
        ev.url = url.clone();
    }
    ev.labels = labels_of(d);
    ev.label = str_at(p, &["label", "name"]).map(str::to_string);
    ev.item = Some(Item {
        item_type: "discussion".into(),
        noun: "discussion".into(),
        reference: ev.number.map(|n| format!("#{n}")).unwrap_or_default(),
        number: ev.number,
        title: ev.title.clone(),
        url,
        state: first_str(d, &[&["state"]]),
        category: first_str(d, &[&["category", "name"]]),
    });
    // A comment, or the comment marked as the answer.
    if let Some(c) = p
        .get("comment")
        .or_else(|| p.get("answer"))
        .filter(|c| c.is_object())
    {
        let comment = comment_of(c);
        ev.body = comment.body.clone();
        if !comment.url.is_empty() {
            ev.url = comment.url.clone();
        }
        ev.comment = Some(comment);
        if ev.actor.name.is_empty() {
            ev.actor = person(c.get("user"), f.base).unwrap_or_default();
        }
    }
}

fn fill_gollum(ev: &mut Event, p: &Value) {
    ev.pages = p
        .get("pages")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|pg| Page {
                    title: first_str(pg, &[&["title"], &["page_name"]]),
                    action: first_str(pg, &[&["action"]]),
                    url: first_str(pg, &[&["html_url"]]),
                    summary: first_str(pg, &[&["summary"]]),
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some(first) = ev.pages.first() {
        ev.title = first.title.clone();
        if !first.url.is_empty() {
            ev.url = first.url.clone();
        }
    }
}

/// `refs/pull/12/head` (or `pull/12/merge`): the pull request number.
fn pull_ref_number(r#ref: &str) -> Option<u64> {
    let rest = r#ref.strip_prefix("refs/").unwrap_or(r#ref);
    rest.strip_prefix("pull/")?.split('/').next()?.parse().ok()
}

/// The first pull request a run lists, linked on the forge's web.
fn run_pull_request(ev: &Event, run: &Value) -> Option<Link> {
    let n = run
        .get("pull_requests")
        .and_then(Value::as_array)
        .and_then(|prs| prs.first())
        .and_then(|pr| u64_at(pr, &["number"]))
        .or_else(|| pull_ref_number(str_at(run, &["head_branch"]).unwrap_or_default()))?;
    let repo = ev.repo.url.trim_end_matches('/');
    Some(Link {
        number: Some(n),
        url: if repo.is_empty() {
            String::new()
        } else {
            format!("{repo}/pull/{n}")
        },
        title: String::new(),
    })
}

fn commit_url(ev: &Event, sha: &str) -> String {
    let repo = ev.repo.url.trim_end_matches('/');
    if repo.is_empty() || sha.is_empty() {
        String::new()
    } else {
        format!("{repo}/commit/{sha}")
    }
}

/// Workflow runs and jobs, check runs and suites.
fn fill_run(ev: &mut Event, event_name: &str, p: &Value) {
    let run = p.get(event_name).unwrap_or(&Value::Null);
    let mut ci = Ci::default();
    ci.set_github(
        str_at(run, &["status"]).unwrap_or_default(),
        str_at(run, &["conclusion"]).unwrap_or_default(),
    );
    let head_branch = first_str(run, &[&["head_branch"], &["check_suite", "head_branch"]]);
    ci.sha = first_str(run, &[&["head_sha"], &["check_suite", "head_sha"]]);
    ci.commit_url = commit_url(ev, &ci.sha);
    ci.commit_title = first_line(&first_str(run, &[&["head_commit", "message"]]));
    ci.pull_request = run_pull_request(ev, run);
    ci.url = first_str(run, &[&["html_url"], &["details_url"]]);
    let app = first_str(run, &[&["app", "slug"], &["check_suite", "app", "slug"]]);
    let (start, end) = match event_name {
        "workflow_run" => {
            ci.name = first_str(p, &[&["workflow", "name"], &["workflow_run", "name"]]);
            ci.number = u64_at(run, &["run_number"]);
            ci.trigger = first_str(run, &[&["event"]]);
            if let Some(pr) = &mut ci.pull_request {
                pr.title = first_line(&first_str(run, &[&["display_title"]]));
            }
            (
                first_str(run, &[&["run_started_at"], &["created_at"]]),
                "updated_at",
            )
        }
        "workflow_job" => {
            ci.name = first_str(run, &[&["name"]]);
            ci.workflow = first_str(run, &[&["workflow_name"]]);
            (first_str(run, &[&["started_at"]]), "completed_at")
        }
        "check_run" => {
            ci.name = first_str(run, &[&["name"]]);
            ci.workflow = first_str(run, &[&["app", "name"]]);
            ci.description = first_str(run, &[&["output", "title"]]);
            if app == "github-actions" {
                ev.covered_by = "workflow_job".into();
            }
            (first_str(run, &[&["started_at"]]), "completed_at")
        }
        _ => {
            // A check suite: one app's checks on one commit.
            ci.name = first_str(run, &[&["app", "name"]]);
            if ci.url.is_empty() && !ci.commit_url.is_empty() {
                ci.url = format!("{}/checks", ci.commit_url);
            }
            if app == "github-actions" {
                ev.covered_by = "workflow_run".into();
            }
            (first_str(run, &[&["created_at"]]), "updated_at")
        }
    };
    if ci.name.is_empty() {
        ci.name = event_name.replace('_', " ");
    }
    if ci.finished {
        ci.set_duration(seconds_between(
            &start,
            str_at(run, &[end]).unwrap_or_default(),
        ));
    }
    if pull_ref_number(&head_branch).is_none() {
        ci.branch = head_branch
            .strip_prefix("refs/heads/")
            .unwrap_or(&head_branch)
            .to_string();
    }
    if !ci.branch.is_empty() {
        ev.branch = Some(ci.branch.clone());
    }
    ev.title = ci.name.clone();
    if !ci.url.is_empty() {
        ev.url = ci.url.clone();
    }
    ev.ci = Some(ci);
}

/// A commit status (`status` events carry no action: the state is it).
fn fill_status(ev: &mut Event, p: &Value) {
    let mut ci = Ci::default();
    ci.set_state(str_at(p, &["state"]).unwrap_or_default());
    ci.name = first_str(p, &[&["context"]]);
    ci.description = first_str(p, &[&["description"]]);
    ci.url = first_str(p, &[&["target_url"]]);
    ci.sha = first_str(p, &[&["sha"], &["commit", "sha"]]);
    ci.commit_url = first_str(p, &[&["commit", "html_url"]]);
    if ci.commit_url.is_empty() {
        ci.commit_url = commit_url(ev, &ci.sha);
    }
    ci.commit_title = first_line(&first_str(p, &[&["commit", "commit", "message"]]));
    // The branches whose head this commit is: one names the branch.
    if let Some([only]) = p
        .get("branches")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        ci.branch = first_str(only, &[&["name"]]);
        ev.branch = Some(ci.branch.clone()).filter(|b| !b.is_empty());
    }
    ev.title = ci.name.clone();
    ev.url = if ci.url.is_empty() {
        ci.commit_url.clone()
    } else {
        ci.url.clone()
    };
    ev.ci = Some(ci);
}

/// A deployment (created: not run yet) or one of its status changes.
fn fill_deployment(ev: &mut Event, event_name: &str, p: &Value) {
    let dep = p.get("deployment").unwrap_or(&Value::Null);
    let mut ci = Ci::default();
    if event_name == "deployment_status" {
        let st = p.get("deployment_status").unwrap_or(&Value::Null);
        ci.set_state(str_at(st, &["state"]).unwrap_or_default());
        ci.url = first_str(st, &[&["target_url"], &["log_url"]]);
        ci.environment_url = first_str(st, &[&["environment_url"]]);
        ci.description = first_str(st, &[&["description"]]);
    } else {
        ci.set_state("queued");
        ci.state = "created".into();
        ci.description = first_str(dep, &[&["description"]]);
    }
    ci.environment = first_str(dep, &[&["environment"]]);
    ci.name = ci.environment.clone();
    ci.sha = first_str(dep, &[&["sha"]]);
    ci.commit_url = commit_url(ev, &ci.sha);
    let r#ref = first_str(dep, &[&["ref"]]);
    if !r#ref.is_empty() && r#ref != ci.sha {
        ci.branch = r#ref
            .strip_prefix("refs/heads/")
            .unwrap_or(&r#ref)
            .to_string();
        ev.branch = Some(ci.branch.clone());
    }
    if ci.url.is_empty() && !ev.repo.url.is_empty() {
        ci.url = format!("{}/deployments", ev.repo.url.trim_end_matches('/'));
    }
    ev.title = ci.name.clone();
    ev.url = ci.url.clone();
    ev.ci = Some(ci);
}

/// Dependabot, code scanning, secret scanning and the retired repository
/// vulnerability alerts. Secret scanning alerts may carry the secret
/// itself: it is never copied onto the event.
fn fill_alert(ev: &mut Event, event_name: &str, p: &Value) {
    let a = p.get("alert").unwrap_or(&Value::Null);
    let repo = ev.repo.url.trim_end_matches('/').to_string();
    let number = u64_at(a, &["number"]);
    let mut alert = Alert {
        number,
        url: first_str(a, &[&["html_url"]]),
        state: first_str(a, &[&["state"]]),
        ..Alert::default()
    };
    let (noun, security_path) = match event_name {
        "dependabot_alert" => {
            let adv = a.get("security_advisory").unwrap_or(&Value::Null);
            alert.tool = "Dependabot".into();
            alert.severity = first_str(
                a,
                &[
                    &["security_advisory", "severity"],
                    &["security_vulnerability", "severity"],
                ],
            );
            alert.summary = first_str(adv, &[&["summary"]]);
            alert.identifier = first_str(adv, &[&["cve_id"], &["ghsa_id"]]);
            alert.package = first_str(
                a,
                &[
                    &["dependency", "package", "name"],
                    &["security_vulnerability", "package", "name"],
                ],
            );
            alert.fixed_in = first_str(
                a,
                &[&[
                    "security_vulnerability",
                    "first_patched_version",
                    "identifier",
                ]],
            );
            alert.path = first_str(a, &[&["dependency", "manifest_path"]]);
            ("Dependabot alert", "dependabot")
        }
        "code_scanning_alert" => {
            alert.tool = first_str(a, &[&["tool", "name"]]);
            alert.severity = first_str(
                a,
                &[&["rule", "security_severity_level"], &["rule", "severity"]],
            );
            alert.summary = first_str(a, &[&["rule", "description"], &["rule", "name"]]);
            alert.identifier = first_str(a, &[&["rule", "id"]]);
            alert.path = first_str(a, &[&["most_recent_instance", "location", "path"]]);
            if alert.path.is_empty()
                && let Some(path) = a
                    .pointer("/instances/0/location/path")
                    .and_then(Value::as_str)
            {
                alert.path = path.to_string();
            }
            if let Some(r#ref) = str_at(p, &["ref"]) {
                set_push_ref(ev, r#ref);
            }
            ("code scanning alert", "code-scanning")
        }
        "secret_scanning_alert" => {
            alert.tool = "secret scanning".into();
            alert.summary = first_str(a, &[&["secret_type_display_name"], &["secret_type"]]);
            alert.identifier = first_str(a, &[&["secret_type"]]);
            if alert.state.is_empty() {
                alert.state = match ev.action.as_str() {
                    "resolved" | "revoked" => "resolved",
                    _ => "open",
                }
                .into();
            }
            // Without the alert's own link, the repository's security
            // overview (which lists it).
            ("leaked credential alert", "")
        }
        _ => {
            // The retired repository vulnerability alert: no number, and
            // the state is the action.
            alert.tool = "Dependabot".into();
            alert.package = first_str(a, &[&["affected_package_name"]]);
            alert.fixed_in = first_str(a, &[&["fixed_in"]]);
            alert.identifier = first_str(a, &[&["external_identifier"], &["ghsa_id"]]);
            alert.severity = first_str(a, &[&["severity"]]);
            let range = first_str(a, &[&["affected_range"]]);
            alert.summary = match (alert.package.is_empty(), range.is_empty()) {
                (false, false) => format!("{} {range} is vulnerable", alert.package),
                (false, true) => format!("{} is vulnerable", alert.package),
                _ => String::new(),
            };
            alert.state = match ev.action.as_str() {
                "dismiss" => "dismissed",
                "resolve" => "fixed",
                "create" | "reopen" => "open",
                other => other,
            }
            .into();
            if alert.url.is_empty() {
                alert.url = first_str(a, &[&["external_reference"]]);
            }
            // These deliveries may have no sender: who dismissed it says.
            if ev.actor.name.is_empty() {
                let who = first_str(a, &[&["dismisser", "login"]]);
                if !who.is_empty() {
                    ev.actor = person(a.get("dismisser"), "").unwrap_or_default();
                }
            }
            ("vulnerability alert", "dependabot")
        }
    };
    if alert.url.is_empty() && !repo.is_empty() {
        alert.url = match number {
            Some(n) if !security_path.is_empty() => {
                format!("{repo}/security/{security_path}/{n}")
            }
            _ => format!("{repo}/security"),
        };
    }
    ev.title = alert.summary.clone();
    ev.number = number;
    ev.url = alert.url.clone();
    ev.item = Some(Item {
        item_type: "alert".into(),
        noun: noun.into(),
        reference: number.map(|n| format!("#{n}")).unwrap_or_default(),
        number,
        title: alert.summary.clone(),
        url: alert.url.clone(),
        state: alert.state.clone(),
        category: String::new(),
    });
    ev.alert = Some(alert);
}

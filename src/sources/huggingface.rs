//! The Hugging Face Hub: the secret comes back as `X-Webhook-Secret` (or
//! `?secret=` in the URL), the event is `event.scope` + `event.action` in
//! the body, and there is no delivery id (a body hash stands in). Only
//! webhook payload version 3 is understood; version 2 gets a clear 400.
//! Refs are put in words: `refs/heads/main` is `main`, `refs/pr/5` is
//! PR #5, linked to its discussion; a Hub pull request names its target
//! branch.

use serde_json::Value;

use super::signature::token_matches;
use super::{Delivery, Rejection, decode_body, first_str, str_at, u64_at};
use crate::config::SourceConfig;
use crate::event::{Actor, Comment, Event, Item, PullRequest, RefUpdate, Repo};

pub(super) fn verify(source: &SourceConfig, d: &Delivery<'_>) -> Result<(), Rejection> {
    let token = match d.header("x-webhook-secret") {
        Some(t) => t.to_string(),
        None => match d.query_param("secret") {
            Some(t) => t,
            None => {
                return Err(Rejection::Unauthorized(
                    "missing X-Webhook-Secret header (or ?secret= in the URL); set the webhook's secret on the Hub".into(),
                ))
            }
        },
    };
    if token_matches(&source.secrets, token.as_bytes()) {
        Ok(())
    } else {
        Err(Rejection::Unauthorized(
            "the webhook secret does not match the configured secret".into(),
        ))
    }
}

pub(super) fn parse(d: &Delivery<'_>) -> Result<Event, Rejection> {
    let p = decode_body(d, false)?;
    let version = u64_at(&p, &["webhook", "version"]);
    if p.get("event").is_some_and(Value::is_string) || version.is_some_and(|v| v < 3) {
        return Err(Rejection::BadRequest(
            "Hugging Face webhook payload version 2 is not supported; edit the webhook on the Hub to send version 3".into(),
        ));
    }
    let scope = str_at(&p, &["event", "scope"]).unwrap_or_default();
    let action = str_at(&p, &["event", "action"]).unwrap_or_default();
    if scope.is_empty() || action.is_empty() {
        return Err(Rejection::BadRequest(
            "Hugging Face payload has no `event.scope` and `event.action`".into(),
        ));
    }
    let kind = format!("{scope}.{action}");

    let repo = p.get("repo").unwrap_or(&Value::Null);
    let repo_type = first_str(repo, &[&["type"]]);
    let name = first_str(repo, &[&["name"]]);
    let key = if name.is_empty() {
        String::new()
    } else {
        match repo_type.as_str() {
            "dataset" => format!("datasets/{name}"),
            "space" => format!("spaces/{name}"),
            _ => name.clone(),
        }
    };
    let mut ev = Event {
        kind,
        repo: Repo {
            key,
            name,
            url: first_str(repo, &[&["url", "web"]]),
            repo_type,
        },
        ..Event::default()
    };
    ev.url = ev.repo.url.clone();

    // Who acted: a comment's author, or a new discussion's. The Hub
    // usually sends only an account id, which means nothing in a chat
    // message, so only a name is used; and a discussion's author did not
    // necessarily make an update to it (a close, a merge), so none then.
    let author = match (scope, action) {
        (s, _) if s.ends_with(".comment") => first_str(&p, &[&["comment", "author", "name"]]),
        ("discussion", "create") => first_str(&p, &[&["discussion", "author", "name"]]),
        _ => String::new(),
    };
    ev.actor = Actor {
        name: author,
        ..Actor::default()
    };
    ev.action = action.to_string();

    let web = ev.repo.url.trim_end_matches('/').to_string();
    if let Some(disc) = p.get("discussion").filter(|v| v.is_object()) {
        ev.title = first_str(disc, &[&["title"]]);
        ev.number = u64_at(disc, &["num"]);
        let u = first_str(disc, &[&["url", "web"]]);
        if !u.is_empty() {
            ev.url = u.clone();
        }
        let is_pr = disc
            .get("isPullRequest")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let status = first_str(disc, &[&["status"]]);
        if let Some(base) = str_at(disc, &["changes", "base"]) {
            let base = short_ref(base);
            ev.branch = Some(base.clone());
            if is_pr {
                // The pull request's target branch; its head is `refs/pr/<n>`.
                ev.pull_request = Some(PullRequest {
                    base,
                    head: ev
                        .number
                        .map(|n| format!("refs/pr/{n}"))
                        .unwrap_or_default(),
                    merged: status == "merged",
                    draft: status == "draft",
                    ..PullRequest::default()
                });
            }
        }
        ev.item = Some(Item {
            item_type: if is_pr { "pull_request" } else { "discussion" }.into(),
            noun: if is_pr { "pull request" } else { "discussion" }.into(),
            reference: ev.number.map(|n| format!("#{n}")).unwrap_or_default(),
            number: ev.number,
            title: ev.title.clone(),
            url: u,
            state: status,
            category: String::new(),
        });
    }
    if let Some(comment) = p.get("comment").filter(|v| v.is_object()) {
        let hidden = comment
            .get("hidden")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let body = if hidden {
            String::new()
        } else {
            first_str(comment, &[&["content"]])
        };
        ev.body = body.clone();
        // A new discussion arrives with its opening comment: link the
        // discussion; a comment event links the comment.
        let u = first_str(comment, &[&["url", "web"]]);
        if scope.starts_with("discussion.comment") {
            if !u.is_empty() {
                ev.url = u.clone();
            }
            ev.comment = Some(Comment {
                body,
                url: u,
                ..Comment::default()
            });
        }
    }
    if let Some(refs) = p.get("updatedRefs").and_then(Value::as_array) {
        ev.refs = refs.iter().map(|r| ref_update(r, &web)).collect();
        // A content update on a branch: route by it.
        ev.branch = ev
            .refs
            .iter()
            .find(|r| r.ref_type == "branch")
            .map(|r| r.name.clone());
        // A push to a Hub pull request (`refs/pr/<n>`) is about that PR.
        if let [only] = ev.refs.as_slice()
            && only.ref_type == "pull_request"
        {
            ev.number = only.number;
            ev.url = only.url.clone();
            ev.item = Some(Item {
                item_type: "pull_request".into(),
                noun: "pull request".into(),
                reference: only.number.map(|n| format!("#{n}")).unwrap_or_default(),
                number: only.number,
                url: only.url.clone(),
                ..Item::default()
            });
        }
    }
    ev.payload = p;
    Ok(ev)
}

/// `refs/heads/main` is `main`, `refs/tags/v1` is `v1`; others as they are.
fn short_ref(r: &str) -> String {
    r.strip_prefix("refs/heads/")
        .or_else(|| r.strip_prefix("refs/tags/"))
        .unwrap_or(r)
        .to_string()
}

/// One entry of `updatedRefs`, in words and linked: `refs/pr/5` is PR #5,
/// linked to its discussion.
fn ref_update(r: &Value, web: &str) -> RefUpdate {
    let full = first_str(r, &[&["ref"]]);
    let old_sha = first_str(r, &[&["oldSha"]]);
    let new_sha = first_str(r, &[&["newSha"]]);
    let link = |path: String| {
        if web.is_empty() {
            String::new()
        } else {
            format!("{web}/{path}")
        }
    };
    let pr = full
        .strip_prefix("refs/pr/")
        .and_then(|n| n.parse::<u64>().ok());
    let (name, ref_type, url) = if let Some(n) = pr {
        (
            format!("PR #{n}"),
            "pull_request",
            link(format!("discussions/{n}")),
        )
    } else if let Some(t) = full.strip_prefix("refs/tags/") {
        (t.to_string(), "tag", link(format!("tree/{t}")))
    } else {
        let b = short_ref(&full);
        let url = link(format!("tree/{b}"));
        (b, "branch", url)
    };
    RefUpdate {
        name,
        ref_type: ref_type.into(),
        url,
        number: pr,
        commit_url: if new_sha.is_empty() {
            String::new()
        } else {
            link(format!("commit/{new_sha}"))
        },
        created: old_sha.is_empty() && !new_sha.is_empty(),
        deleted: new_sha.is_empty(),
        full,
        old_sha,
        new_sha,
    }
}

//! GitLab: `X-Gitlab-Token` carries the secret itself; `object_kind` in the
//! body names the event. Merge requests become `pull_request.*`, issues
//! `issues.*`, notes `issue_comment.created`; pipelines and jobs keep
//! GitLab's names (`pipeline.<status>`, `build.<status>`).

use serde_json::Value;

use super::signature::token_matches;
use super::{
    Delivery, Rejection, commits_of, decode_body, first_str, set_push_ref, str_at, u64_at,
};
use crate::config::SourceConfig;
use crate::event::{Actor, Event, PullRequest, Repo};

pub(super) fn verify(source: &SourceConfig, d: &Delivery<'_>) -> Result<(), Rejection> {
    let Some(token) = d.header("x-gitlab-token") else {
        return Err(Rejection::Unauthorized(
            "missing X-Gitlab-Token header; set the webhook's secret token at GitLab".into(),
        ));
    };
    if token_matches(&source.secrets, token.as_bytes()) {
        Ok(())
    } else {
        Err(Rejection::Unauthorized(
            "X-Gitlab-Token does not match the configured secret".into(),
        ))
    }
}

fn github_action(a: &str) -> &str {
    match a {
        "open" => "opened",
        "close" => "closed",
        "reopen" => "reopened",
        "update" => "edited",
        "merge" => "merged",
        "approved" => "approved",
        "unapproved" => "unapproved",
        other => other,
    }
}

pub(super) fn parse(d: &Delivery<'_>) -> Result<Event, Rejection> {
    let p = decode_body(d, false)?;
    let object_kind = str_at(&p, &["object_kind"])
        .or_else(|| str_at(&p, &["event_name"]))
        .unwrap_or_default()
        .to_string();
    if object_kind.is_empty() {
        return Err(Rejection::BadRequest(
            "GitLab payload has no `object_kind`".into(),
        ));
    }
    let attrs = p.get("object_attributes").unwrap_or(&Value::Null);
    let project = p.get("project").unwrap_or(&Value::Null);
    let repo_name = first_str(project, &[&["path_with_namespace"]]);
    let mut ev = Event {
        delivery_id: d
            .first_header(&["x-gitlab-event-uuid", "idempotency-key"])
            .unwrap_or_default()
            .to_string(),
        repo: Repo {
            key: repo_name.clone(),
            name: repo_name,
            url: first_str(project, &[&["web_url"], &["homepage"]]),
            repo_type: String::new(),
        },
        actor: Actor {
            name: first_str(&p, &[&["user_username"], &["user", "username"]]),
            url: String::new(),
        },
        ..Event::default()
    };
    ev.url = ev.repo.url.clone();
    ev.labels = p
        .get("labels")
        .and_then(Value::as_array)
        .map(|ls| {
            ls.iter()
                .filter_map(|l| l.get("title").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();

    ev.kind = match object_kind.as_str() {
        "push" | "tag_push" => {
            set_push_ref(&mut ev, str_at(&p, &["ref"]).unwrap_or_default());
            ev.commits = commits_of(&p);
            ev.total_commits = u64_at(&p, &["total_commits_count"])
                .map(|n| n as usize)
                .unwrap_or(ev.commits.len())
                .max(ev.commits.len());
            "push".to_string()
        }
        "merge_request" => {
            let action = match str_at(attrs, &["action"]).unwrap_or("update") {
                // GitLab sets `oldrev` only on an update that pushed
                // commits: GitHub's `synchronize`, not an edit.
                "update" if attrs.get("oldrev").is_some_and(|v| !v.is_null()) => "synchronize",
                other => github_action(other),
            };
            fill_item(&mut ev, attrs);
            let base = first_str(attrs, &[&["target_branch"]]);
            ev.branch = Some(base.clone()).filter(|b| !b.is_empty());
            ev.pull_request = Some(PullRequest {
                base,
                head: first_str(attrs, &[&["source_branch"]]),
                merged: action == "merged",
                draft: attrs.get("draft").and_then(Value::as_bool).unwrap_or(false),
                ..PullRequest::default()
            });
            format!("pull_request.{action}")
        }
        "issue" => {
            let action = github_action(str_at(attrs, &["action"]).unwrap_or("update"));
            fill_item(&mut ev, attrs);
            format!("issues.{action}")
        }
        "note" => {
            ev.body = first_str(attrs, &[&["note"]]);
            ev.url = first_str(attrs, &[&["url"]]);
            let item = p
                .get("merge_request")
                .or_else(|| p.get("issue"))
                .unwrap_or(&Value::Null);
            ev.title = first_str(item, &[&["title"]]);
            ev.number = u64_at(item, &["iid"]);
            "issue_comment.created".to_string()
        }
        "pipeline" => {
            ev.branch = str_at(attrs, &["ref"]).map(str::to_string);
            ev.title = first_str(attrs, &[&["name"], &["ref"]]);
            ev.url = first_str(attrs, &[&["url"]]);
            match str_at(attrs, &["status"]) {
                Some(s) if !s.is_empty() => format!("pipeline.{s}"),
                _ => "pipeline".into(),
            }
        }
        "build" => {
            ev.branch = str_at(&p, &["ref"]).map(str::to_string);
            ev.title = first_str(&p, &[&["build_name"]]);
            match str_at(&p, &["build_status"]) {
                Some(s) if !s.is_empty() => format!("build.{s}"),
                _ => "build".into(),
            }
        }
        "release" => {
            ev.tag = str_at(&p, &["tag"]).map(str::to_string);
            ev.title = first_str(&p, &[&["name"], &["tag"]]);
            ev.body = first_str(&p, &[&["description"]]);
            ev.url = first_str(&p, &[&["url"]]);
            let action = match str_at(&p, &["action"]) {
                Some("create") => "published",
                Some("update") => "edited",
                Some("delete") => "deleted",
                Some(other) => other,
                None => "published",
            };
            format!("release.{action}")
        }
        other => {
            ev.title = first_str(attrs, &[&["title"], &["name"]]);
            let u = first_str(attrs, &[&["url"]]);
            if !u.is_empty() {
                ev.url = u;
            }
            match str_at(attrs, &["action"]) {
                Some(a) if !a.is_empty() => format!("{other}.{a}"),
                _ => other.to_string(),
            }
        }
    };
    ev.payload = p;
    Ok(ev)
}

fn fill_item(ev: &mut Event, attrs: &Value) {
    ev.number = u64_at(attrs, &["iid"]);
    ev.title = first_str(attrs, &[&["title"]]);
    ev.body = first_str(attrs, &[&["description"]]);
    let u = first_str(attrs, &[&["url"]]);
    if !u.is_empty() {
        ev.url = u;
    }
}

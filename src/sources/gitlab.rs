//! GitLab in its own words: `X-Gitlab-Token` carries the secret itself; the
//! event is named by `object_kind` in the body and by the `X-Gitlab-Event`
//! header (which alone says `Confidential Issue Hook`, `Confidential Note
//! Hook`, `System Hook`, `Test Hook`).
//!
//! Kinds take GitHub's names where GitHub has the event: pushes and tag
//! pushes are `push`, merge requests `pull_request.*` (`merged`, and
//! GitLab's `approved`, `unapproved`, `approval`, `unapproval`), issues
//! `issues.*`, notes `issue_comment.*` (on an issue or merge request),
//! `pull_request_review_comment.*` (on a merge request's diff) or
//! `commit_comment.*`, wiki pages `gollum`, releases `release.*`. The rest
//! keep GitLab's names: `pipeline.<status>`, `build.<status>` (jobs),
//! `deployment.<status>`, `note.<action>` (snippets, designs),
//! `emoji.award` / `emoji.revoke`, `feature_flag.activated` /
//! `.deactivated`. The Test button's delivery (an issue or merge request
//! without an action, or `X-Gitlab-Event: Test Hook`) is `ping.test`: a
//! short "webhook is set up" message, routed like any event.

use serde_json::Value;

use super::forge::{is_zero_sha, short_sha, wrote_it};
use super::signature::token_matches;
use super::{
    Delivery, Rejection, commits_of, decode_body, first_str, set_push_ref, str_at, u64_at,
};
use crate::config::SourceConfig;
use crate::event::{Actor, Ci, Comment, Event, Item, Job, Link, Page, PullRequest, Repo, Review};

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

/// The kind of payload a hook header names, for bodies without an
/// `object_kind` (`Job Hook` and its old name `Build Hook` are `build`).
fn kind_of_header(header: &str) -> Option<&'static str> {
    let k = match header {
        "Push Hook" => "push",
        "Tag Push Hook" => "tag_push",
        "Issue Hook" | "Confidential Issue Hook" => "issue",
        "Note Hook" | "Confidential Note Hook" => "note",
        "Merge Request Hook" => "merge_request",
        "Wiki Page Hook" => "wiki_page",
        "Pipeline Hook" => "pipeline",
        "Job Hook" | "Build Hook" => "build",
        "Deployment Hook" => "deployment",
        "Release Hook" => "release",
        "Emoji Hook" => "emoji",
        "Feature Flag Hook" => "feature_flag",
        _ => return None,
    };
    Some(k)
}

/// GitLab's issue and merge request actions in GitHub's words.
fn github_action(a: &str) -> &str {
    match a {
        "open" => "opened",
        "close" => "closed",
        "reopen" => "reopened",
        "update" => "edited",
        "merge" => "merged",
        "create" => "created",
        "delete" => "deleted",
        other => other,
    }
}

/// What the parse steps share: the payload, where GitLab lives, and the
/// hook header.
struct Ctx<'a> {
    p: &'a Value,
    attrs: &'a Value,
    /// The instance's web root (`https://gitlab.com`), from the project.
    base: String,
    /// The project's web page.
    web: String,
    header: &'a str,
}

pub(super) fn parse(d: &Delivery<'_>) -> Result<Event, Rejection> {
    let p = decode_body(d, false)?;
    let header = d.header("x-gitlab-event").unwrap_or_default();
    let object_kind = str_at(&p, &["object_kind"])
        .filter(|k| !k.is_empty())
        .or_else(|| kind_of_header(header))
        .or_else(|| str_at(&p, &["event_name"]).filter(|k| !k.is_empty()))
        .unwrap_or_default()
        .to_string();
    if object_kind.is_empty() {
        return Err(Rejection::BadRequest(
            "GitLab payload has no `object_kind` and the X-Gitlab-Event header names no event"
                .into(),
        ));
    }
    let repo = repo_of(&p);
    let web = repo.url.trim_end_matches('/').to_string();
    let path = first_str(&p, &[&["project", "path_with_namespace"]]);
    let base = web
        .strip_suffix(&format!("/{path}"))
        .filter(|_| !path.is_empty())
        .unwrap_or_default()
        .to_string();
    let cx = Ctx {
        p: &p,
        attrs: p.get("object_attributes").unwrap_or(&Value::Null),
        base,
        web,
        header,
    };
    let mut ev = Event {
        delivery_id: d
            .first_header(&["x-gitlab-event-uuid", "idempotency-key"])
            .unwrap_or_default()
            .to_string(),
        actor: actor_of(&cx),
        repo,
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

    let is_test = header == "Test Hook"
        || (matches!(object_kind.as_str(), "issue" | "merge_request")
            && str_at(cx.attrs, &["action"]).is_none_or(str::is_empty));
    let (kind, action) = if is_test {
        // The Test button sends a sample of the chosen event (an issue, a
        // merge request) without an action: not something that happened.
        ev.title = first_str(cx.attrs, &[&["title"]]);
        ("ping".to_string(), "test".to_string())
    } else {
        match object_kind.as_str() {
            "push" | "tag_push" => fill_push(&mut ev, &cx),
            "merge_request" => fill_merge_request(&mut ev, &cx),
            "issue" => fill_issue(&mut ev, &cx),
            "note" => fill_note(&mut ev, &cx),
            "pipeline" => fill_pipeline(&mut ev, &cx),
            "build" => fill_build(&mut ev, &cx),
            "deployment" => fill_deployment(&mut ev, &cx),
            "release" => fill_release(&mut ev, &cx),
            "wiki_page" => fill_wiki(&mut ev, &cx),
            "emoji" => fill_emoji(&mut ev, &cx),
            "feature_flag" => fill_feature_flag(&mut ev, &cx),
            other => {
                ev.title = first_str(cx.attrs, &[&["title"], &["name"]]);
                let u = first_str(cx.attrs, &[&["url"]]);
                if !u.is_empty() {
                    ev.url = u;
                }
                let action = first_str(cx.attrs, &[&["action"]]);
                (other.to_string(), github_action(&action).to_string())
            }
        }
    };
    ev.kind = if action.is_empty() {
        kind
    } else {
        format!("{kind}.{action}")
    };
    ev.action = action;
    if ev.confidential {
        // Confidential text stays at GitLab: a lock and a link.
        ev.body.clear();
        if let Some(c) = &mut ev.comment {
            c.body.clear();
        }
    }
    ev.payload = p;
    Ok(ev)
}

/// The project: its full path is the repo key. Old job payloads carry no
/// `project`: the repository's page gives the path.
fn repo_of(p: &Value) -> Repo {
    let project = p.get("project").unwrap_or(&Value::Null);
    let mut key = first_str(project, &[&["path_with_namespace"]]);
    let url = first_str(
        p,
        &[
            &["project", "web_url"],
            &["project", "homepage"],
            &["repository", "homepage"],
        ],
    );
    if key.is_empty() {
        key = url::Url::parse(&url)
            .ok()
            .map(|u| u.path().trim_matches('/').to_string())
            .unwrap_or_default();
    }
    if key.is_empty() {
        // `project_name` is the path in old job payloads, a display name
        // (`Group / Project`) in new ones.
        let name = first_str(p, &[&["project_name"]]);
        if !name.contains(' ') {
            key = name;
        }
    }
    Repo {
        name: key.clone(),
        key,
        url,
        repo_type: String::new(),
    }
}

/// A GitLab user object as a person: the display name first.
fn person(v: Option<&Value>, base: &str) -> Option<Actor> {
    let v = v.filter(|v| v.is_object())?;
    let login = first_str(v, &[&["username"]]);
    let name = first_str(v, &[&["name"], &["username"]]);
    if name.is_empty() {
        return None;
    }
    let mut url = first_str(v, &[&["web_url"]]);
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

fn actor_of(cx: &Ctx<'_>) -> Actor {
    let mut a = person(cx.p.get("user"), &cx.base).unwrap_or_else(|| {
        // Pushes: flat `user_name`, `user_username`, `user_avatar`.
        let login = first_str(cx.p, &[&["user_username"]]);
        Actor {
            name: first_str(cx.p, &[&["user_name"], &["user_username"]]),
            url: if cx.base.is_empty() || login.is_empty() {
                String::new()
            } else {
                format!("{}/{login}", cx.base)
            },
            login,
            avatar_url: first_str(cx.p, &[&["user_avatar"]]),
        }
    });
    let user_url = first_str(cx.p, &[&["user_url"]]);
    if !user_url.is_empty() {
        a.url = user_url;
    }
    a
}

fn link_under(web: &str, path: &str) -> String {
    if web.is_empty() {
        String::new()
    } else {
        format!("{web}/-/{path}")
    }
}

fn fill_push(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let p = cx.p;
    set_push_ref(ev, str_at(p, &["ref"]).unwrap_or_default());
    let before = str_at(p, &["before"]).unwrap_or_default();
    let after = str_at(p, &["after"]).unwrap_or_default();
    // A removal: `after` is all zeros (and `checkout_sha` null; some tag
    // removals say it only by the latter).
    let checkout_gone = p.get("checkout_sha").is_some_and(Value::is_null);
    ev.deleted = is_zero_sha(after) || checkout_gone;
    ev.created = !ev.deleted && is_zero_sha(before);

    let pusher: Vec<String> = [&["user_name"][..], &["user_username"], &["user_email"]]
        .iter()
        .filter_map(|path| str_at(p, path))
        .map(str::to_string)
        .collect();
    let mut commits = commits_of(p);
    if let Some(raw) = p.get("commits").and_then(Value::as_array) {
        for (c, raw) in commits.iter_mut().zip(raw) {
            c.by_pusher = wrote_it(&pusher, raw.get("author"));
        }
    }
    // GitLab lists them oldest first.
    commits.reverse();
    ev.commits = commits;
    ev.total_commits = u64_at(p, &["total_commits_count"])
        .map(|n| n as usize)
        .unwrap_or(ev.commits.len())
        .max(ev.commits.len());
    ev.compare_url = if ev.deleted {
        String::new()
    } else if ev.created {
        match &ev.tag {
            Some(t) => link_under(&cx.web, &format!("tags/{t}")),
            None => link_under(&cx.web, &format!("commit/{after}")),
        }
    } else if !before.is_empty() && !after.is_empty() {
        link_under(&cx.web, &format!("compare/{before}...{after}"))
    } else {
        String::new()
    };
    if !ev.compare_url.is_empty() {
        ev.url = ev.compare_url.clone();
    }
    ("push".into(), String::new())
}

/// An issue's or work item's noun: `issue`, `incident`, `task`, `epic`, …
fn issue_noun(v: &Value) -> String {
    let t = first_str(v, &[&["type"], &["issue_type"]]);
    if t.is_empty() {
        "issue".into()
    } else {
        t.replace('_', " ").to_lowercase()
    }
}

/// GitLab's `opened` is GitHub's `open`.
fn state_word(s: &str) -> String {
    match s {
        "opened" | "reopened" => "open".into(),
        other => other.to_string(),
    }
}

fn fill_people(ev: &mut Event, cx: &Ctx<'_>) {
    ev.assignees = people(cx.p.get("assignees"), &cx.base);
    if ev.assignees.is_empty()
        && let Some(a) = person(cx.p.get("assignee"), &cx.base)
    {
        ev.assignees.push(a);
    }
    ev.requested_reviewers = people(cx.p.get("reviewers"), &cx.base);
}

fn fill_merge_request(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let attrs = cx.attrs;
    let changes = cx.p.get("changes").unwrap_or(&Value::Null);
    let draft_change = |k: &str| -> Option<(bool, bool)> {
        let c = changes.get(k)?;
        Some((
            c.get("previous").and_then(Value::as_bool)?,
            c.get("current").and_then(Value::as_bool)?,
        ))
    };
    let action = match str_at(attrs, &["action"]).unwrap_or_default() {
        // GitLab sets `oldrev` only on an update that pushed commits:
        // GitHub's `synchronize`, not an edit.
        "update" if attrs.get("oldrev").is_some_and(|v| !v.is_null()) => "synchronize",
        "update" => match draft_change("draft").or_else(|| draft_change("work_in_progress")) {
            Some((true, false)) => "ready_for_review",
            Some((false, true)) => "converted_to_draft",
            _ => "edited",
        },
        other => github_action(other),
    }
    .to_string();
    ev.number = u64_at(attrs, &["iid"]);
    ev.title = first_str(attrs, &[&["title"]]);
    ev.body = first_str(attrs, &[&["description"]]);
    let url = first_str(attrs, &[&["url"]]);
    if !url.is_empty() {
        ev.url = url.clone();
    }
    fill_people(ev, cx);
    let base = first_str(attrs, &[&["target_branch"]]);
    ev.branch = Some(base.clone()).filter(|b| !b.is_empty());
    let merged = action == "merged" || str_at(attrs, &["state"]) == Some("merged");
    let draft = attrs
        .get("draft")
        .or_else(|| attrs.get("work_in_progress"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut head = first_str(attrs, &[&["source_branch"]]);
    // From a fork: `namespace:branch`.
    let source = first_str(attrs, &[&["source", "path_with_namespace"]]);
    let target = first_str(attrs, &[&["target", "path_with_namespace"]]);
    if !head.is_empty() && !source.is_empty() && !target.is_empty() && source != target {
        let ns = source.rsplit_once('/').map(|(ns, _)| ns).unwrap_or(&source);
        head = format!("{ns}:{head}");
    }
    ev.pull_request = Some(PullRequest {
        base,
        head,
        author: String::new(),
        merged,
        draft,
        ..PullRequest::default()
    });
    ev.item = Some(Item {
        item_type: "pull_request".into(),
        noun: "merge request".into(),
        reference: ev.number.map(|n| format!("!{n}")).unwrap_or_default(),
        number: ev.number,
        title: ev.title.clone(),
        url,
        state: if merged {
            "merged".into()
        } else if draft {
            "draft".into()
        } else {
            state_word(&first_str(attrs, &[&["state"]]))
        },
        category: String::new(),
    });
    match action.as_str() {
        "approved" | "approval" => {
            ev.review = Some(Review {
                state: "approved".into(),
                ..Review::default()
            });
        }
        "unapproved" | "unapproval" => {
            ev.review = Some(Review {
                state: "unapproved".into(),
                ..Review::default()
            });
        }
        _ => {}
    }
    ("pull_request".into(), action)
}

fn confidential_issue(cx: &Ctx<'_>, issue: &Value) -> bool {
    cx.header.starts_with("Confidential")
        || str_at(cx.p, &["event_type"]).is_some_and(|t| t.starts_with("confidential"))
        || issue
            .get("confidential")
            .and_then(Value::as_bool)
            .unwrap_or(false)
}

fn fill_issue(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let attrs = cx.attrs;
    let action = github_action(str_at(attrs, &["action"]).unwrap_or_default()).to_string();
    ev.number = u64_at(attrs, &["iid"]);
    ev.title = first_str(attrs, &[&["title"]]);
    ev.body = first_str(attrs, &[&["description"]]);
    let url = first_str(attrs, &[&["url"]]);
    if !url.is_empty() {
        ev.url = url.clone();
    }
    fill_people(ev, cx);
    ev.confidential = confidential_issue(cx, attrs);
    ev.item = Some(Item {
        item_type: "issue".into(),
        noun: issue_noun(attrs),
        reference: ev.number.map(|n| format!("#{n}")).unwrap_or_default(),
        number: ev.number,
        title: ev.title.clone(),
        url,
        state: state_word(&first_str(attrs, &[&["state"]])),
        category: String::new(),
    });
    ("issues".into(), action)
}

/// A note: what it is on decides the kind.
fn fill_note(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let attrs = cx.attrs;
    let p = cx.p;
    let on = first_str(attrs, &[&["noteable_type"]]);
    let mut comment = Comment {
        body: first_str(attrs, &[&["note"], &["description"]]),
        url: first_str(attrs, &[&["url"]]),
        path: first_str(
            attrs,
            &[&["position", "new_path"], &["position", "old_path"]],
        ),
        line: u64_at(attrs, &["position", "new_line"])
            .or_else(|| u64_at(attrs, &["position", "old_line"])),
    };
    let diff = first_str(attrs, &[&["type"]]) == "DiffNote";
    let (kind, mut item) = match on.as_str() {
        "MergeRequest" => {
            let mr = p.get("merge_request").unwrap_or(&Value::Null);
            let n = u64_at(mr, &["iid"]);
            let item = Item {
                item_type: "pull_request".into(),
                noun: "merge request".into(),
                reference: n.map(|n| format!("!{n}")).unwrap_or_default(),
                number: n,
                title: first_str(mr, &[&["title"]]),
                url: first_str(mr, &[&["url"]]),
                state: state_word(&first_str(mr, &[&["state"]])),
                category: String::new(),
            };
            ev.branch = str_at(mr, &["target_branch"]).map(str::to_string);
            // A comment on the diff is GitHub's review comment; on the
            // conversation, GitHub's issue comment (as on a pull request).
            let kind = if diff {
                "pull_request_review_comment"
            } else {
                "issue_comment"
            };
            (kind, item)
        }
        "Issue" => {
            let issue = p.get("issue").unwrap_or(&Value::Null);
            let n = u64_at(issue, &["iid"]);
            ev.confidential |= confidential_issue(cx, issue);
            let item = Item {
                item_type: "issue".into(),
                noun: issue_noun(issue),
                reference: n.map(|n| format!("#{n}")).unwrap_or_default(),
                number: n,
                title: first_str(issue, &[&["title"]]),
                url: first_str(issue, &[&["url"]]),
                state: state_word(&first_str(issue, &[&["state"]])),
                category: String::new(),
            };
            ("issue_comment", item)
        }
        "Commit" => {
            let sha = first_str(attrs, &[&["commit_id"], &["commit", "id"]]);
            let sha = if sha.is_empty() {
                first_str(p, &[&["commit", "id"]])
            } else {
                sha
            };
            let mut url = first_str(p, &[&["commit", "url"]]);
            if url.is_empty() && !sha.is_empty() {
                url = link_under(&cx.web, &format!("commit/{sha}"));
            }
            let item = Item {
                item_type: "commit".into(),
                noun: "commit".into(),
                reference: short_sha(&sha),
                title: short_sha(&sha),
                url,
                ..Item::default()
            };
            ("commit_comment", item)
        }
        "Snippet" => {
            let s = p.get("snippet").unwrap_or(&Value::Null);
            let id = u64_at(s, &["id"]);
            let mut url = first_str(s, &[&["url"]]);
            if url.is_empty()
                && let Some(id) = id
            {
                url = link_under(&cx.web, &format!("snippets/{id}"));
            }
            let item = Item {
                item_type: "snippet".into(),
                noun: "snippet".into(),
                reference: id.map(|n| format!("${n}")).unwrap_or_default(),
                number: id,
                title: first_str(s, &[&["title"]]),
                url,
                ..Item::default()
            };
            ("note", item)
        }
        "DesignManagement::Design" => {
            // `designs/issue-<n>/<file>`: the design's page hangs off the issue.
            let path = first_str(
                attrs,
                &[
                    &["position", "new_path"],
                    &["original_position", "new_path"],
                ],
            );
            let file = path.rsplit('/').next().unwrap_or_default().to_string();
            let issue = path
                .split('/')
                .nth(1)
                .and_then(|d| d.strip_prefix("issue-"))
                .and_then(|n| n.parse::<u64>().ok());
            let url = match issue {
                Some(n) if !file.is_empty() => {
                    link_under(&cx.web, &format!("issues/{n}/designs/{file}"))
                }
                _ => String::new(),
            };
            comment.path.clear();
            let item = Item {
                item_type: "design".into(),
                noun: "design".into(),
                title: file,
                url,
                ..Item::default()
            };
            ("note", item)
        }
        other => {
            let noun = other.rsplit("::").next().unwrap_or(other).chars().fold(
                String::new(),
                |mut s, c| {
                    if c.is_uppercase() && !s.is_empty() {
                        s.push(' ');
                    }
                    s.extend(c.to_lowercase());
                    s
                },
            );
            let item = Item {
                item_type: noun.replace(' ', "_"),
                noun,
                ..Item::default()
            };
            ("note", item)
        }
    };
    if comment.url.is_empty() {
        let id = u64_at(attrs, &["id"]);
        if let Some(id) = id
            && !item.url.is_empty()
        {
            comment.url = format!("{}#note_{id}", item.url);
        }
    }
    ev.confidential |= cx.header.starts_with("Confidential")
        || str_at(p, &["event_type"]) == Some("confidential_note")
        || attrs
            .get("internal")
            .or_else(|| attrs.get("confidential"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    if item.url.is_empty() {
        item.url = comment.url.clone();
    }
    ev.number = item.number.filter(|_| item.item_type != "snippet");
    ev.title = item.title.clone();
    ev.body = comment.body.clone();
    ev.url = if comment.url.is_empty() {
        item.url.clone()
    } else {
        comment.url.clone()
    };
    if ev.url.is_empty() {
        ev.url = ev.repo.url.clone();
    }
    ev.item = Some(item);
    ev.comment = Some(comment);
    let action = match str_at(attrs, &["action"]).unwrap_or("create") {
        "" => "created".to_string(),
        a => github_action(a).to_string(),
    };
    (kind.into(), action)
}

/// The first line of a commit message.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_string()
}

fn fill_pipeline(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let attrs = cx.attrs;
    let p = cx.p;
    let mut ci = Ci::default();
    let status = first_str(attrs, &[&["status"]]);
    ci.set_state(&status);
    let id = u64_at(attrs, &["id"]);
    ci.number = id;
    ci.name = first_str(attrs, &[&["name"]]);
    ci.url = first_str(attrs, &[&["url"]]);
    if ci.url.is_empty()
        && let Some(id) = id
    {
        ci.url = link_under(&cx.web, &format!("pipelines/{id}"));
    }
    ci.sha = first_str(attrs, &[&["sha"]]);
    ci.commit_url = first_str(p, &[&["commit", "url"]]);
    if ci.commit_url.is_empty() && !ci.sha.is_empty() {
        ci.commit_url = link_under(&cx.web, &format!("commit/{}", ci.sha));
    }
    ci.commit_title = first_line(&first_str(
        p,
        &[&["commit", "title"], &["commit", "message"]],
    ));
    ci.trigger = first_str(attrs, &[&["source"]]);
    let r#ref = first_str(attrs, &[&["ref"]]);
    if attrs.get("tag").and_then(Value::as_bool).unwrap_or(false) {
        ev.tag = Some(r#ref).filter(|t| !t.is_empty());
    } else if !r#ref.is_empty() {
        ci.branch = r#ref;
        ev.branch = Some(ci.branch.clone());
    }
    if let Some(mr) = p.get("merge_request").filter(|m| m.is_object()) {
        ci.pull_request = Some(Link {
            number: u64_at(mr, &["iid"]),
            url: first_str(mr, &[&["url"]]),
            title: first_str(mr, &[&["title"]]),
        });
    }
    if ci.finished {
        ci.set_duration(u64_at(attrs, &["duration"]).or_else(|| {
            attrs
                .get("duration")
                .and_then(Value::as_f64)
                .map(|d| d.round() as u64)
        }));
    }
    ci.failed_jobs = p
        .get("builds")
        .and_then(Value::as_array)
        .map(|bs| {
            bs.iter()
                .filter(|b| str_at(b, &["status"]) == Some("failed"))
                .map(|b| Job {
                    name: first_str(b, &[&["name"]]),
                    url: u64_at(b, &["id"])
                        .map(|id| link_under(&cx.web, &format!("jobs/{id}")))
                        .unwrap_or_default(),
                    stage: first_str(b, &[&["stage"]]),
                    allowed_to_fail: b
                        .get("allow_failure")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default();
    ev.title = if ci.name.is_empty() {
        id.map(|n| format!("Pipeline #{n}")).unwrap_or_default()
    } else {
        ci.name.clone()
    };
    if !ci.url.is_empty() {
        ev.url = ci.url.clone();
    }
    ev.ci = Some(ci);
    ("pipeline".into(), status)
}

fn fill_build(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let p = cx.p;
    let mut ci = Ci::default();
    let status = first_str(p, &[&["build_status"]]);
    ci.set_state(&status);
    ci.name = first_str(p, &[&["build_name"]]);
    ci.number = u64_at(p, &["build_id"]);
    if let Some(id) = ci.number {
        ci.url = link_under(&cx.web, &format!("jobs/{id}"));
    }
    if let Some(pipeline) = u64_at(p, &["pipeline_id"]) {
        ci.workflow = format!("pipeline #{pipeline}");
    }
    ci.sha = first_str(p, &[&["sha"], &["commit", "sha"]]);
    if !ci.sha.is_empty() {
        ci.commit_url = link_under(&cx.web, &format!("commit/{}", ci.sha));
    }
    ci.commit_title = first_line(&first_str(p, &[&["commit", "message"]]));
    let r#ref = first_str(p, &[&["ref"]]);
    if p.get("tag").and_then(Value::as_bool).unwrap_or(false) {
        ev.tag = Some(r#ref).filter(|t| !t.is_empty());
    } else if !r#ref.is_empty() {
        ci.branch = r#ref;
        ev.branch = Some(ci.branch.clone());
    }
    ci.environment = first_str(p, &[&["environment", "name"]]);
    if ci.finished {
        ci.set_duration(
            p.get("build_duration")
                .and_then(Value::as_f64)
                .map(|d| d.round() as u64),
        );
    }
    let allowed = p
        .get("build_allow_failure")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if ci.conclusion == "failure" {
        ci.failed_jobs.push(Job {
            name: ci.name.clone(),
            url: ci.url.clone(),
            stage: first_str(p, &[&["build_stage"]]),
            allowed_to_fail: allowed,
        });
        ci.description = first_str(p, &[&["build_failure_reason"]]).replace('_', " ");
    }
    ev.title = ci.name.clone();
    if !ci.url.is_empty() {
        ev.url = ci.url.clone();
    }
    ev.ci = Some(ci);
    ("build".into(), status)
}

fn fill_deployment(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let p = cx.p;
    let mut ci = Ci::default();
    let status = first_str(p, &[&["status"]]);
    ci.set_state(&status);
    ci.environment = first_str(p, &[&["environment"]]);
    ci.name = ci.environment.clone();
    ci.environment_url = first_str(p, &[&["environment_external_url"]]);
    ci.url = first_str(p, &[&["deployable_url"]]);
    ci.commit_url = first_str(p, &[&["commit_url"]]);
    ci.sha = ci
        .commit_url
        .rsplit('/')
        .next()
        .filter(|s| s.len() >= 7 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
        .unwrap_or_else(|| first_str(p, &[&["short_sha"]]));
    ci.commit_title = first_line(&first_str(p, &[&["commit_title"]]));
    let r#ref = first_str(p, &[&["ref"]]);
    if !r#ref.is_empty() {
        ci.branch = r#ref;
        ev.branch = Some(ci.branch.clone());
    }
    ev.title = ci.name.clone();
    if !ci.url.is_empty() {
        ev.url = ci.url.clone();
    }
    ev.ci = Some(ci);
    ("deployment".into(), status)
}

fn fill_release(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let p = cx.p;
    ev.tag = str_at(p, &["tag"]).map(str::to_string);
    ev.title = first_str(p, &[&["name"], &["tag"]]);
    ev.body = first_str(p, &[&["description"]]);
    ev.url = first_str(p, &[&["url"]]);
    ev.item = Some(Item {
        item_type: "release".into(),
        noun: "release".into(),
        title: ev.title.clone(),
        url: ev.url.clone(),
        state: "published".into(),
        ..Item::default()
    });
    let action = match str_at(p, &["action"]) {
        Some("create") | None => "published",
        Some("update") => "edited",
        Some("delete") => "deleted",
        Some(other) => other,
    };
    ("release".into(), action.into())
}

/// A wiki page: GitHub's `gollum`, with the one page it changed.
fn fill_wiki(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let attrs = cx.attrs;
    let action = match first_str(attrs, &[&["action"]]).as_str() {
        "create" => "created",
        "update" => "edited",
        "delete" => "deleted",
        other => github_action(other),
    }
    .to_string();
    let page = Page {
        title: first_str(attrs, &[&["title"], &["slug"]]),
        action,
        url: first_str(attrs, &[&["url"]]),
        summary: first_str(attrs, &[&["message"]]),
    };
    ev.title = page.title.clone();
    if !page.url.is_empty() {
        ev.url = page.url.clone();
    }
    ev.body = page.summary.clone();
    ev.pages = vec![page];
    ("gollum".into(), String::new())
}

/// An emoji awarded to (or taken from) an issue, merge request, note,
/// snippet or commit.
fn fill_emoji(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let attrs = cx.attrs;
    let p = cx.p;
    ev.emoji = first_str(attrs, &[&["name"]]);
    let on = first_str(attrs, &[&["awardable_type"]]);
    let url = first_str(attrs, &[&["awarded_on_url"]]);
    let (thing, item_type, noun, prefix) = match on.as_str() {
        "MergeRequest" => ("merge_request", "pull_request", "merge request", "!"),
        "Issue" => ("issue", "issue", "issue", "#"),
        "Snippet" => ("snippet", "snippet", "snippet", "$"),
        "Note" => ("note", "comment", "comment", ""),
        _ => ("", "", "", ""),
    };
    let obj = p
        .get(thing)
        .filter(|o| o.is_object())
        .or_else(|| p.get("work_item"))
        .unwrap_or(&Value::Null);
    let number = if prefix == "$" {
        u64_at(obj, &["id"])
    } else {
        u64_at(obj, &["iid"])
    };
    let noun = if thing == "issue" {
        issue_noun(obj)
    } else if noun.is_empty() {
        on.to_lowercase()
    } else {
        noun.to_string()
    };
    ev.item = Some(Item {
        item_type: if item_type.is_empty() {
            noun.replace(' ', "_")
        } else {
            item_type.to_string()
        },
        noun,
        reference: match number {
            Some(n) if !prefix.is_empty() => format!("{prefix}{n}"),
            _ => String::new(),
        },
        number,
        title: first_str(obj, &[&["title"]]),
        url: url.clone(),
        ..Item::default()
    });
    ev.title = first_str(obj, &[&["title"]]);
    ev.number = number.filter(|_| prefix != "$");
    if !url.is_empty() {
        ev.url = url;
    }
    let action = first_str(p, &[&["event_type"]]);
    ("emoji".into(), action)
}

fn fill_feature_flag(ev: &mut Event, cx: &Ctx<'_>) -> (String, String) {
    let attrs = cx.attrs;
    ev.title = first_str(attrs, &[&["name"]]);
    ev.body = first_str(attrs, &[&["description"]]);
    let url = link_under(&cx.web, "feature_flags");
    if !url.is_empty() {
        ev.url = url.clone();
    }
    ev.item = Some(Item {
        item_type: "feature_flag".into(),
        noun: "feature flag".into(),
        title: ev.title.clone(),
        url,
        ..Item::default()
    });
    let action = match attrs.get("active").and_then(Value::as_bool) {
        Some(true) => "activated",
        Some(false) => "deactivated",
        None => "",
    };
    ("feature_flag".into(), action.into())
}

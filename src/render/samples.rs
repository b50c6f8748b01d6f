//! Hand-built sample events, one or more per kind the embedded templates
//! cover, shaped like what the sources produce (GitHub-style payloads for
//! forges, webhook v3 payloads for the Hugging Face Hub). `check` renders
//! every template against the samples of its kind in strict mode.

use serde_json::{Value as Json, json};

use poem::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{SourceConfig, SourceKind};
use crate::event::{Actor, Commit, Event, PullRequest, Repo};
use crate::sources::Delivery;

const REPO: &str = "octo-org/hello-world";
const REPO_URL: &str = "https://github.com/octo-org/hello-world";

fn forge(kind: &str) -> Event {
    Event {
        source: "github".into(),
        source_kind: "github".into(),
        delivery_id: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
        kind: kind.into(),
        repo: Repo {
            key: REPO.into(),
            name: REPO.into(),
            url: REPO_URL.into(),
            repo_type: String::new(),
        },
        actor: Actor {
            name: "octocat".into(),
            url: "https://github.com/octocat".into(),
            login: "octocat".into(),
            ..Actor::default()
        },
        ..Event::default()
    }
}

fn base_payload() -> serde_json::Map<String, Json> {
    let mut m = serde_json::Map::new();
    m.insert(
        "repository".into(),
        json!({"full_name": REPO, "name": "hello-world", "html_url": REPO_URL,
               "default_branch": "main", "private": false,
               "owner": {"login": "octo-org"}}),
    );
    m.insert(
        "sender".into(),
        json!({"login": "octocat", "html_url": "https://github.com/octocat"}),
    );
    m
}

fn with(mut m: serde_json::Map<String, Json>, extra: Json) -> Json {
    if let Json::Object(extra) = extra {
        m.extend(extra);
    }
    Json::Object(m)
}

/// A generic event of `kind` (for templates of kinds without a sample).
pub(crate) fn generic(kind: &str) -> Event {
    let mut e = forge(kind);
    e.url = format!("{REPO_URL}/stargazers");
    e.payload = with(base_payload(), json!({"action": "created"}));
    e
}

/// A push of `n` commits to `main` (`total` may exceed `n`).
pub(crate) fn push(n: usize, total: usize) -> Event {
    let mut e = forge("push");
    e.branch = Some("main".into());
    e.compare_url = format!("{REPO_URL}/compare/0d1a26e67d8f...1481a2de7b2a");
    e.url = e.compare_url.clone();
    e.total_commits = total;
    // Newest first, as the sources hand them over.
    e.commits = (0..n)
        .rev()
        .map(|i| {
            let id = format!(
                "{:07x}e7b2a7d02428ad93446ab166be7793fbb",
                (0x1481a2d + i * 0x1f3b) & 0xfff_ffff
            );
            Commit {
                message: format!("Fix the frobnicator, part {}\n\nLonger explanation.", i + 1),
                url: format!("{REPO_URL}/commit/{id}"),
                author: "Mona Lisa".into(),
                id,
                ..Commit::default()
            }
        })
        .collect();
    let commits: Vec<Json> = e
        .commits
        .iter()
        .map(|c| {
            json!({"id": c.id, "message": c.message, "url": c.url,
                   "author": {"name": c.author, "username": "mona"},
                   "added": [], "removed": [], "modified": ["README.md"]})
        })
        .collect();
    e.payload = with(
        base_payload(),
        json!({"commits": commits, "head_commit": commits.last(),
               "ref": "refs/heads/main", "before": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
               "after": "1481a2de7b2a7d02428ad93446ab166be7793fbb",
               "created": false, "deleted": false, "forced": false,
               "compare": e.compare_url,
               "pusher": {"name": "octocat"}}),
    );
    e
}

fn pull_request(action: &str, kind_action: &str) -> Event {
    let mut e = forge(&format!("pull_request.{kind_action}"));
    e.url = format!("{REPO_URL}/pull/42");
    e.title = "Add a frobnicator".into();
    e.body = "This adds the frobnicator.\n\nCloses #7.".into();
    e.number = Some(42);
    e.branch = Some("main".into());
    e.labels = vec!["enhancement".into()];
    e.pull_request = Some(PullRequest {
        base: "main".into(),
        head: "feature/frob".into(),
        author: "octocat".into(),
        merged: kind_action == "merged",
        draft: false,
        additions: Some(120),
        deletions: Some(7),
        changed_files: Some(4),
        commits: Some(3),
    });
    e.payload = with(
        base_payload(),
        json!({"action": action, "number": 42,
               "pull_request": {"number": 42, "title": e.title, "html_url": e.url, "body": e.body,
                   "merged_by": {"login": "octocat"}, "additions": 120, "deletions": 7,
                   "changed_files": 4, "commits": 3,
                   "state": if action == "closed" { "closed" } else { "open" },
                   "merged": kind_action == "merged", "draft": false,
                   "user": {"login": "octocat"},
                   "base": {"ref": "main"}, "head": {"ref": "feature/frob"},
                   "labels": [{"name": "enhancement"}],
                   "assignee": {"login": "hubot"},
                   "milestone": {"title": "v1.0"}},
               "assignee": {"login": "hubot"},
               "label": {"name": "enhancement"},
               "milestone": {"title": "v1.0"}}),
    );
    e
}

fn issue(action: &str) -> Event {
    let mut e = forge(&format!("issues.{action}"));
    e.url = format!("{REPO_URL}/issues/7");
    e.title = "The frobnicator is missing".into();
    e.body = "We need one.".into();
    e.number = Some(7);
    e.labels = vec!["bug".into(), "help wanted".into()];
    e.payload = with(
        base_payload(),
        json!({"action": action,
               "issue": {"number": 7, "title": e.title, "html_url": e.url, "state": "open",
                   "body": e.body,
                   "user": {"login": "octocat"}, "labels": [{"name": "bug"}],
                   "assignee": {"login": "hubot"}, "milestone": {"title": "v1.0"}},
               "assignee": {"login": "hubot"},
               "label": {"name": "bug"},
               "milestone": {"title": "v1.0"}}),
    );
    e
}

fn issue_comment(action: &str) -> Event {
    let mut e = forge(&format!("issue_comment.{action}"));
    e.url = format!("{REPO_URL}/issues/7#issuecomment-1");
    e.title = "The frobnicator is missing".into();
    e.body = "I can take this one.".into();
    e.number = Some(7);
    e.payload = with(
        base_payload(),
        json!({"action": action,
               "issue": {"number": 7, "title": e.title, "html_url": format!("{REPO_URL}/issues/7"),
                   "state": "open", "user": {"login": "octocat"}},
               "comment": {"id": 1, "body": e.body, "html_url": e.url,
                   "user": {"login": "octocat"}}}),
    );
    e
}

fn review() -> Event {
    let mut e = pull_request("submitted", "opened");
    e.kind = "pull_request_review.submitted".into();
    e.url = format!("{REPO_URL}/pull/42#pullrequestreview-9");
    e.body = "Looks good, one nit.".into();
    if let Json::Object(m) = &mut e.payload {
        m.insert(
            "review".into(),
            json!({"state": "approved", "body": e.body, "html_url": e.url,
                   "user": {"login": "octocat"}}),
        );
    }
    e
}

fn git_ref(kind: &str, ref_type: &str) -> Event {
    let mut e = forge(kind);
    e.url = REPO_URL.into();
    if ref_type == "tag" {
        e.tag = Some("v1.0.0".into());
    } else {
        e.branch = Some("feature/frob".into());
    }
    let r = if ref_type == "tag" {
        "v1.0.0"
    } else {
        "feature/frob"
    };
    e.payload = with(
        base_payload(),
        json!({"ref": r, "ref_type": ref_type, "pusher_type": "user"}),
    );
    e
}

fn fork() -> Event {
    let mut e = forge("fork");
    e.url = "https://github.com/hubot/hello-world".into();
    e.actor = Actor {
        name: "hubot".into(),
        url: "https://github.com/hubot".into(),
        login: "hubot".into(),
        ..Actor::default()
    };
    e.payload = with(
        base_payload(),
        json!({"forkee": {"full_name": "hubot/hello-world", "fork": true,
                          "html_url": "https://github.com/hubot/hello-world"}}),
    );
    e
}

fn release() -> Event {
    let mut e = forge("release.published");
    e.url = format!("{REPO_URL}/releases/tag/v1.0.0");
    e.title = "Frobnicator 1.0".into();
    e.body = "## Changes\n- frobnicates\n- faster".into();
    e.tag = Some("v1.0.0".into());
    e.payload = with(
        base_payload(),
        json!({"action": "published",
               "release": {"tag_name": "v1.0.0", "name": e.title, "html_url": e.url,
                   "body": e.body, "draft": false, "prerelease": false,
                   "author": {"login": "octocat"}}}),
    );
    e
}

fn workflow_run(action: &str, status: &str, conclusion: Option<&str>) -> Event {
    let mut e = forge(&format!("workflow_run.{action}"));
    e.url = format!("{REPO_URL}/actions/runs/18436407157");
    e.title = "CI".into();
    e.branch = Some("main".into());
    let mut ci = crate::event::Ci {
        name: "CI".into(),
        number: Some(189),
        url: e.url.clone(),
        branch: "main".into(),
        sha: "a69811586879ea72cb7657e555fcdb45cf96c6d6".into(),
        commit_url: format!("{REPO_URL}/commit/a69811586879ea72cb7657e555fcdb45cf96c6d6"),
        commit_title: "Add a frobnicator".into(),
        trigger: "push".into(),
        ..Default::default()
    };
    ci.set_github(status, conclusion.unwrap_or(""));
    e.ci = Some(ci);
    e.payload = with(
        base_payload(),
        json!({"action": action,
               "workflow": {"name": "CI", "path": ".github/workflows/ci.yml"},
               "workflow_run": {"name": "CI", "display_title": "Add a frobnicator",
                   "head_branch": "main", "head_sha": "a69811586879ea72cb7657e555fcdb45cf96c6d6",
                   "run_number": 189, "event": "push", "status": status,
                   "conclusion": conclusion, "html_url": e.url,
                   "actor": {"login": "octocat"}}}),
    );
    e
}

fn ping() -> Event {
    let mut e = forge("ping");
    e.url = REPO_URL.into();
    e.payload = with(
        base_payload(),
        json!({"zen": "Favor focus over features.", "hook_id": 11847078,
               "hook": {"type": "Repository", "events": ["push", "pull_request"]}}),
    );
    e
}

fn repository(action: &str) -> Event {
    let mut e = forge(&format!("repository.{action}"));
    e.url = REPO_URL.into();
    e.payload = with(base_payload(), json!({"action": action}));
    e
}

const HF_USER_ID: &str = "61d2f90c3c2083e1c08af22d";

fn hub(scope: &str, action: &str, repo_type: &str) -> Event {
    let (key, name, url) = match repo_type {
        "dataset" => (
            "datasets/some-user/some-data",
            "some-user/some-data",
            "https://huggingface.co/datasets/some-user/some-data",
        ),
        "space" => (
            "spaces/some-user/some-space",
            "some-user/some-space",
            "https://huggingface.co/spaces/some-user/some-space",
        ),
        _ => (
            "some-user/some-model",
            "some-user/some-model",
            "https://huggingface.co/some-user/some-model",
        ),
    };
    Event {
        source: "hub".into(),
        source_kind: "huggingface".into(),
        delivery_id: "b1946ac92492d2347c6235b4d2611184".into(),
        kind: format!("{scope}.{action}"),
        repo: Repo {
            key: key.into(),
            name: name.into(),
            url: url.into(),
            repo_type: repo_type.into(),
        },
        actor: Actor {
            name: HF_USER_ID.into(),
            ..Actor::default()
        },
        url: url.into(),
        payload: json!({
            "event": {"action": action, "scope": scope},
            "repo": {"type": repo_type, "name": name, "id": "6366c000a2abcdf2fd69a080",
                     "private": false, "headSha": "c379e821c9c95d613899e8c4343e4bfee2b0c600",
                     "url": {"web": url, "api": format!("https://huggingface.co/api/{key}")},
                     "owner": {"id": HF_USER_ID}},
            "webhook": {"id": "6390e855e30d9209411de93b", "version": 3}
        }),
        ..Event::default()
    }
}

fn hub_content() -> Event {
    let mut e = hub("repo.content", "update", "space");
    if let Json::Object(m) = &mut e.payload {
        m.insert(
            "updatedRefs".into(),
            json!([{"ref": "refs/heads/main", "oldSha": "5e7f29fffcc579cb52539fddb14a1a4f85f39e44",
                    "newSha": "227c78346870a85e5de4fff8a585db68df975406"}]),
        );
    }
    e
}

fn hub_config() -> Event {
    let mut e = hub("repo.config", "update", "model");
    if let Json::Object(m) = &mut e.payload {
        m.insert("updatedConfig".into(), json!({"private": true}));
    }
    e
}

fn hub_discussion(scope: &str, action: &str, status: &str) -> Event {
    let mut e = hub(scope, action, "model");
    let durl = format!("{}/discussions/19", e.repo.url);
    e.title = "Update co2 emissions".into();
    e.body = "Add co2 emissions information to the model card".into();
    e.number = Some(19);
    e.url = if scope == "discussion.comment" {
        format!("{durl}#6399f58518721fdd27fc9caa")
    } else {
        durl.clone()
    };
    if let Json::Object(m) = &mut e.payload {
        m.insert(
            "discussion".into(),
            json!({"id": "6399f58518721fdd27fc9ca9", "title": e.title, "num": 19,
                   "status": status, "isPullRequest": true,
                   "url": {"web": durl}, "author": {"id": HF_USER_ID},
                   "changes": {"base": "refs/heads/main"}}),
        );
        m.insert(
            "comment".into(),
            json!({"id": "6399f58518721fdd27fc9caa", "content": e.body, "hidden": false,
                   "author": {"id": HF_USER_ID},
                   "url": {"web": format!("{durl}#6399f58518721fdd27fc9caa")}}),
        );
    }
    e
}

/// One sample per kind the fixtures produce (several where the templates
/// branch on the payload).
pub(crate) fn all() -> Vec<Event> {
    let mut v = vec![push(3, 3), push(8, 8)];
    let mut tag_push = push(0, 0);
    tag_push.branch = None;
    tag_push.tag = Some("v1.0.0".into());
    if let Json::Object(m) = &mut tag_push.payload {
        m.insert("ref".into(), json!("refs/tags/v1.0.0"));
        m.insert("created".into(), json!(true));
    }
    v.push(tag_push);
    let mut deleted = push(0, 0);
    if let Json::Object(m) = &mut deleted.payload {
        m.insert("deleted".into(), json!(true));
    }
    v.push(deleted);
    for (action, kind_action) in [
        ("opened", "opened"),
        ("closed", "closed"),
        ("closed", "merged"),
        ("reopened", "reopened"),
        ("edited", "edited"),
        ("synchronize", "synchronize"),
        ("assigned", "assigned"),
        ("label_updated", "label_updated"),
        ("milestoned", "milestoned"),
    ] {
        v.push(pull_request(action, kind_action));
    }
    v.push(review());
    for action in [
        "opened",
        "closed",
        "reopened",
        "edited",
        "assigned",
        "label_updated",
        "milestoned",
    ] {
        v.push(issue(action));
    }
    v.push(issue_comment("created"));
    v.push(issue_comment("edited"));
    v.push(git_ref("create", "branch"));
    v.push(git_ref("create", "tag"));
    v.push(git_ref("delete", "branch"));
    v.push(git_ref("delete", "tag"));
    v.push(fork());
    v.push(release());
    v.push(workflow_run("in_progress", "in_progress", None));
    v.push(workflow_run("completed", "completed", Some("success")));
    v.push(workflow_run("completed", "completed", Some("failure")));
    v.push(ping());
    v.push(repository("created"));
    v.push(hub("repo", "create", "model"));
    // A Hub scope no template models.
    v.push(hub("collection", "create", "model"));
    v.push(hub("repo", "delete", "dataset"));
    v.push(hub("repo", "update", "space"));
    v.push(hub_content());
    v.push(hub_config());
    v.push(hub_discussion("discussion", "create", "open"));
    v.push(hub_discussion("discussion", "update", "closed"));
    v.push(hub_discussion("discussion.comment", "create", "open"));
    v.extend(parsed_samples());
    v
}

/// An event as a source parses it from a small payload (`check` renders the
/// templates of kinds with richer facts, CI and alerts, against what the
/// parsers really make of them). `None` if the source refuses it.
fn parsed(kind: SourceKind, event_header: (&'static str, &str), body: &Json) -> Option<Event> {
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static(event_header.0),
        HeaderValue::from_str(event_header.1).ok()?,
    );
    let source = SourceConfig {
        name: kind.as_str().to_string(),
        kind,
        secrets: Vec::new(),
        allow_unsigned: true,
    };
    let body = body.to_string();
    let delivery = Delivery {
        headers: &headers,
        query: None,
        body: body.as_bytes(),
    };
    crate::sources::parse(&source, &delivery).ok()
}

/// Samples for the CI, alert, comment, wiki and GitLab kinds.
fn parsed_samples() -> Vec<Event> {
    let repo = json!({"full_name": REPO, "name": "hello-world", "html_url": REPO_URL,
                      "owner": {"login": "octo-org"}});
    let sender = json!({"login": "octocat", "html_url": "https://github.com/octocat"});
    let sha = "a69811586879ea72cb7657e555fcdb45cf96c6d6";
    let gh = |event: &'static str, extra: Json| {
        let mut body = json!({"repository": repo, "sender": sender});
        if let (Json::Object(m), Json::Object(extra)) = (&mut body, extra) {
            m.extend(extra);
        }
        parsed(SourceKind::Github, ("x-github-event", event), &body)
    };
    let project = json!({"path_with_namespace": "octo-org/hello-world",
                         "web_url": "https://gitlab.com/octo-org/hello-world"});
    let user = json!({"name": "Mona Lisa", "username": "mona"});
    let gl = |header: &'static str, extra: Json| {
        let mut body = json!({"project": project, "user": user});
        if let (Json::Object(m), Json::Object(extra)) = (&mut body, extra) {
            m.extend(extra);
        }
        parsed(SourceKind::Gitlab, ("x-gitlab-event", header), &body)
    };
    let mr = |action: &str| {
        json!({"object_kind": "merge_request",
               "object_attributes": {"iid": 42, "title": "Add a frobnicator", "action": action,
                   "state": "opened", "target_branch": "main", "source_branch": "frob",
                   "url": "https://gitlab.com/octo-org/hello-world/-/merge_requests/42"}})
    };
    vec![
        gh("check_run", json!({"action": "completed", "check_run": {"name": "lint",
            "status": "completed", "conclusion": "failure", "head_sha": sha,
            "html_url": format!("{REPO_URL}/runs/4"), "started_at": "2026-01-29T15:42:01Z",
            "completed_at": "2026-01-29T15:44:04Z",
            "check_suite": {"head_branch": "main"}, "pull_requests": [{"number": 42}]}})),
        gh("check_suite", json!({"action": "completed", "check_suite": {"head_branch": "main",
            "head_sha": sha, "status": "completed", "conclusion": "success",
            "app": {"name": "Linter", "slug": "linter"},
            "head_commit": {"message": "Add a frobnicator"},
            "created_at": "2026-01-29T15:42:01Z", "updated_at": "2026-01-29T15:43:01Z"}})),
        gh("workflow_job", json!({"action": "completed", "workflow_job": {"name": "test",
            "workflow_name": "CI", "head_branch": "main", "head_sha": sha,
            "status": "completed", "conclusion": "timed_out",
            "html_url": format!("{REPO_URL}/actions/runs/1/job/2"),
            "started_at": "2026-01-29T15:42:01Z", "completed_at": "2026-01-29T17:42:01Z"}})),
        gh("status", json!({"sha": sha, "state": "error", "context": "ci/build",
            "description": "The build errored", "target_url": "https://ci.example.com/1",
            "branches": [{"name": "main"}],
            "commit": {"html_url": format!("{REPO_URL}/commit/{sha}"),
                       "commit": {"message": "Add a frobnicator"}}})),
        gh("deployment", json!({"action": "created", "deployment": {"environment": "production",
            "ref": "main", "sha": sha}})),
        gh("deployment_status", json!({"action": "created",
            "deployment_status": {"state": "failure", "target_url": "https://ci.example.com/d/1",
                "environment_url": "https://hello.example.com"},
            "deployment": {"environment": "production", "ref": "main", "sha": sha}})),
        gh("commit_comment", json!({"action": "created", "comment": {"body": "Nice one.",
            "commit_id": sha, "path": "src/frob.rs", "line": 7,
            "html_url": format!("{REPO_URL}/commit/{sha}#commitcomment-1")}})),
        gh("pull_request_review_comment", json!({"action": "created",
            "comment": {"body": "Use a constant here.", "path": "src/frob.rs", "line": 7,
                "html_url": format!("{REPO_URL}/pull/42#discussion_r1")},
            "pull_request": {"number": 42, "title": "Add a frobnicator",
                "html_url": format!("{REPO_URL}/pull/42"), "state": "open",
                "base": {"ref": "main"}, "head": {"ref": "frob"}}})),
        // `status` is the Hub's field, not GitHub's: the Hub's `discussion`
        // template shares this kind's prefix and is checked against it too.
        gh("discussion", json!({"action": "created", "discussion": {"number": 3,
            "title": "Frobnicator ideas", "body": "What should it do?", "status": "open",
            "html_url": format!("{REPO_URL}/discussions/3"), "category": {"name": "Ideas"}}})),
        gh("discussion_comment", json!({"action": "created",
            "comment": {"body": "Frobnicate faster.",
                "html_url": format!("{REPO_URL}/discussions/3#discussioncomment-1")},
            "discussion": {"number": 3, "title": "Frobnicator ideas",
                "html_url": format!("{REPO_URL}/discussions/3")}})),
        gh("gollum", json!({"pages": [{"title": "Home", "action": "edited",
            "html_url": format!("{REPO_URL}/wiki/Home")}]})),
        gh("gollum", json!({"pages": [
            {"title": "Home", "action": "edited", "html_url": format!("{REPO_URL}/wiki/Home")},
            {"title": "Setup", "action": "created", "html_url": format!("{REPO_URL}/wiki/Setup")}]})),
        gh("star", json!({"action": "created"})),
        gh("watch", json!({"action": "started"})),
        gh("public", json!({})),
        gh("member", json!({"action": "added",
            "member": {"login": "hubot", "html_url": "https://github.com/hubot"}})),
        gh("dependabot_alert", json!({"action": "created", "alert": {"number": 20,
            "state": "open", "html_url": format!("{REPO_URL}/security/dependabot/20"),
            "dependency": {"package": {"name": "semver"}, "manifest_path": "package-lock.json"},
            "security_advisory": {"summary": "semver is vulnerable to ReDoS",
                "severity": "medium", "cve_id": "CVE-2022-25883"},
            "security_vulnerability": {"first_patched_version": {"identifier": "7.5.2"}}}})),
        gh("code_scanning_alert", json!({"action": "fixed", "ref": "refs/heads/main",
            "alert": {"number": 10, "state": "fixed",
                "rule": {"id": "js/sql-injection", "severity": "error",
                    "description": "Query built from user-controlled sources"},
                "tool": {"name": "CodeQL"},
                "most_recent_instance": {"location": {"path": "src/db.js"}}}})),
        gh("secret_scanning_alert", json!({"action": "created", "alert": {"number": 5,
            "secret_type": "github_personal_access_token",
            "secret_type_display_name": "GitHub Personal Access Token"}})),
        gh("repository_vulnerability_alert", json!({"action": "create", "alert": {
            "affected_package_name": "semver", "affected_range": "< 7.5.2",
            "fixed_in": "7.5.2", "external_identifier": "CVE-2022-25883",
            "external_reference": "https://nvd.nist.gov/vuln/detail/CVE-2022-25883"}})),
        gl("Pipeline Hook", json!({"object_kind": "pipeline",
            "object_attributes": {"id": 31, "ref": "main", "sha": sha, "status": "failed",
                "duration": 63, "source": "push"},
            "commit": {"message": "Add a frobnicator\n"},
            "merge_request": {"iid": 42, "url": "https://gitlab.com/octo-org/hello-world/-/merge_requests/42"},
            "builds": [{"id": 380, "name": "test", "stage": "test", "status": "failed"},
                       {"id": 381, "name": "lint", "stage": "test", "status": "failed",
                        "allow_failure": true},
                       {"id": 382, "name": "build", "stage": "build", "status": "success"}]})),
        gl("Job Hook", json!({"object_kind": "build", "ref": "main", "tag": false, "sha": sha,
            "build_id": 380, "build_name": "test", "build_stage": "test",
            "build_status": "failed", "build_duration": 31.2,
            "build_failure_reason": "script_failure", "pipeline_id": 31,
            "commit": {"message": "Add a frobnicator"}})),
        gl("Deployment Hook", json!({"object_kind": "deployment", "status": "success",
            "environment": "production", "ref": "main",
            "deployable_url": "https://gitlab.com/octo-org/hello-world/-/jobs/390",
            "commit_url": format!("https://gitlab.com/octo-org/hello-world/-/commit/{sha}"),
            "commit_title": "Add a frobnicator"})),
        gl("Merge Request Hook", mr("approved")),
        gl("Merge Request Hook", mr("approval")),
        gl("Merge Request Hook", mr("unapproved")),
        gl("Merge Request Hook", mr("unapproval")),
        gl("Note Hook", json!({"object_kind": "note",
            "object_attributes": {"id": 7, "note": "Looks fine.", "noteable_type": "Snippet",
                "url": "https://gitlab.com/octo-org/hello-world/-/snippets/5#note_7"},
            "snippet": {"id": 5, "title": "frob.sh",
                "url": "https://gitlab.com/octo-org/hello-world/-/snippets/5"}})),
        gl("Emoji Hook", json!({"object_kind": "emoji", "event_type": "award",
            "object_attributes": {"name": "thumbsup", "awardable_type": "MergeRequest",
                "awarded_on_url": "https://gitlab.com/octo-org/hello-world/-/merge_requests/42"},
            "merge_request": {"iid": 42, "title": "Add a frobnicator"}})),
        gl("Feature Flag Hook", json!({"object_kind": "feature_flag",
            "object_attributes": {"name": "frobnicate", "active": true}})),
    ]
    .into_iter()
    .flatten()
    .collect()
}

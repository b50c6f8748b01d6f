use std::path::PathBuf;

use poem::http::{HeaderMap, HeaderName, HeaderValue};

use super::*;
use crate::config::{Secret, SourceConfig, SourceKind};

fn fixture(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// A source that takes unsigned deliveries: for tests of what comes after
/// verification.
fn unsigned(kind: SourceKind) -> SourceConfig {
    SourceConfig {
        secrets: vec![],
        allow_unsigned: true,
        ..source(kind, "")
    }
}

fn receive_body(src: &SourceConfig, h: &HeaderMap, body: &[u8]) -> Result<Event, Rejection> {
    receive(
        src,
        &Delivery {
            headers: h,
            query: None,
            body,
        },
    )
}

fn source(kind: SourceKind, secret: &str) -> SourceConfig {
    SourceConfig {
        name: kind.as_str().into(),
        kind,
        secrets: vec![Secret::new(secret)],
        allow_unsigned: false,
    }
}

#[test]
fn github_sha256_then_sha1_fallback() {
    let body = fixture("github/pull_request.opened.2.json");
    let src = source(SourceKind::Github, "k");
    let sig = format!("sha256={}", signature::sign_sha256_hex("k", &body));
    let h = headers(&[
        ("x-github-event", "pull_request"),
        ("x-hub-signature-256", &sig),
        ("content-type", "application/json"),
    ]);
    let ev = receive_body(&src, &h, &body).unwrap();
    assert_eq!(ev.kind, "pull_request.opened");
    assert!(ev.pull_request.is_some());

    // A wrong sha256 is not rescued by a right sha1.
    let h = headers(&[
        ("x-github-event", "pull_request"),
        ("x-hub-signature-256", "sha256=00"),
        ("x-hub-signature", "sha1=00"),
    ]);
    assert!(matches!(
        receive_body(&src, &h, &body),
        Err(Rejection::Unauthorized(_))
    ));
}

#[test]
fn gitea_internal_event_names_map_to_github() {
    let body = fixture("gitea/issue_assign.assigned.1.json");
    let src = source(SourceKind::Gitea, "k");
    let sig = signature::sign_sha256_hex("k", &body);
    let h = headers(&[
        ("x-gitea-event", "issue_assign"),
        ("x-gitea-signature", &sig),
    ]);
    let ev = receive_body(&src, &h, &body).unwrap();
    assert_eq!(ev.kind, "issues.assigned");
    // the secret field of old payloads is gone
    assert!(ev.payload.get("secret").is_none());
}

#[test]
fn merged_pull_requests_are_their_own_kind() {
    for (rel, kind, ev_header) in [
        (
            "github/pull_request.closed.1.json",
            SourceKind::Github,
            "x-github-event",
        ),
        (
            "gogs/pull_request.closed.1.json",
            SourceKind::Gogs,
            "x-gogs-event",
        ),
        (
            "gitea/pull_request.closed.1.json",
            SourceKind::Gitea,
            "x-gitea-event",
        ),
    ] {
        let body = fixture(rel);
        let merged = serde_json::from_slice::<Value>(&body).unwrap()["pull_request"]["merged"]
            .as_bool()
            .unwrap_or(false);
        let src = unsigned(kind);
        let h = headers(&[(ev_header, "pull_request")]);
        let ev = receive_body(&src, &h, &body).unwrap();
        let want = if merged {
            "pull_request.merged"
        } else {
            "pull_request.closed"
        };
        assert_eq!(ev.kind, want, "{rel}");
    }
}

#[test]
fn push_fields() {
    let body = fixture("gitea/push.1.json");
    let src = unsigned(SourceKind::Gitea);
    let h = headers(&[("x-gitea-event", "push")]);
    let ev = receive_body(&src, &h, &body).unwrap();
    assert_eq!(ev.kind, "push");
    assert_eq!(ev.repo.key, "kostekIV/test");
    assert_eq!(ev.branch.as_deref(), Some("d"));
    assert_eq!(ev.actor.name, "kostekIV");
    assert!(!ev.commits.is_empty());
    assert!(ev.url.contains("/compare/"));
}

#[test]
fn huggingface_v3_kinds_and_repo_keys() {
    let src = source(SourceKind::Huggingface, "hf");
    let h = headers(&[("x-webhook-secret", "hf")]);
    let body = fixture("huggingface/repo.content.update.1.json");
    let ev = receive_body(&src, &h, &body).unwrap();
    assert_eq!(ev.kind, "repo.content.update");
    assert_eq!(ev.repo.key, "spaces/Wauplin/gradio-user-history");
    assert_eq!(ev.repo.repo_type, "space");
    assert!(ev.delivery_id.starts_with("sha256:"));

    let body = fixture("huggingface/discussion.create.1.json");
    let ev = receive_body(&src, &h, &body).unwrap();
    assert_eq!(ev.kind, "discussion.create");
    assert_eq!(ev.repo.key, "openai-community/gpt2");
    assert_eq!(ev.title, "Update co2 emissions");
}

#[test]
fn huggingface_secret_in_query_and_wrong_secret() {
    let src = source(SourceKind::Huggingface, "hf s");
    let h = HeaderMap::new();
    let body = fixture("huggingface/discussion.create.1.json");
    let ok = Delivery {
        headers: &h,
        query: Some("secret=hf%20s"),
        body: &body,
    };
    assert!(receive(&src, &ok).is_ok());
    let bad = Delivery {
        headers: &h,
        query: Some("secret=nope"),
        body: &body,
    };
    assert!(matches!(
        receive(&src, &bad),
        Err(Rejection::Unauthorized(_))
    ));
    let none = Delivery {
        headers: &h,
        query: None,
        body: &body,
    };
    assert!(matches!(
        receive(&src, &none),
        Err(Rejection::Unauthorized(_))
    ));
}

#[test]
fn huggingface_v2_is_a_clear_400() {
    let src = source(SourceKind::Huggingface, "hf");
    let h = headers(&[("x-webhook-secret", "hf")]);
    for rel in [
        "huggingface-v2/repo.content.update.1.json",
        "huggingface-v2/discussion.comment.add.1.json",
    ] {
        let body = fixture(rel);
        match receive_body(&src, &h, &body) {
            Err(Rejection::BadRequest(m)) => assert!(m.contains("version 2"), "{m}"),
            other => panic!("{rel}: {other:?}"),
        }
    }
}

#[test]
fn gitlab_token_and_merge_request() {
    let body = br#"{"object_kind":"merge_request","user":{"username":"ann"},
        "project":{"path_with_namespace":"grp/sub/app","web_url":"https://gitlab.example/grp/sub/app"},
        "object_attributes":{"iid":7,"title":"Fix","action":"merge","target_branch":"main","source_branch":"fix","url":"https://gitlab.example/grp/sub/app/-/merge_requests/7"},
        "labels":[{"title":"bug"}]}"#;
    let src = source(SourceKind::Gitlab, "tok");
    let h = headers(&[("x-gitlab-token", "tok"), ("x-gitlab-event-uuid", "u-1")]);
    let ev = receive_body(&src, &h, body).unwrap();
    assert_eq!(ev.kind, "pull_request.merged");
    assert_eq!(ev.repo.key, "grp/sub/app");
    assert_eq!(ev.branch.as_deref(), Some("main"));
    assert_eq!(ev.labels, vec!["bug"]);
    assert_eq!(ev.delivery_id, "u-1");
    let h = headers(&[("x-gitlab-token", "tok2")]);
    assert!(matches!(
        receive_body(&src, &h, body),
        Err(Rejection::Unauthorized(_))
    ));
}

#[test]
fn gitlab_merge_request_updates_with_new_commits_are_synchronize() {
    let src = source(SourceKind::Gitlab, "tok");
    let h = headers(&[("x-gitlab-token", "tok")]);
    let update = |extra: &str| {
        format!(
            r#"{{"object_kind":"merge_request","user":{{"username":"ann"}},
            "project":{{"path_with_namespace":"grp/app","web_url":"https://gitlab.example/grp/app"}},
            "object_attributes":{{"iid":7,"title":"Fix","action":"update",{extra}"target_branch":"main","source_branch":"fix"}}}}"#
        )
    };
    let pushed = update(r#""oldrev":"0123456789abcdef0123456789abcdef01234567","#);
    let ev = receive_body(&src, &h, pushed.as_bytes()).unwrap();
    assert_eq!(ev.kind, "pull_request.synchronize");
    let edited = update("");
    let ev = receive_body(&src, &h, edited.as_bytes()).unwrap();
    assert_eq!(ev.kind, "pull_request.edited");
    let null_oldrev = update(r#""oldrev":null,"#);
    let ev = receive_body(&src, &h, null_oldrev.as_bytes()).unwrap();
    assert_eq!(ev.kind, "pull_request.edited");
}

#[test]
fn github_form_encoded_body() {
    let json = fixture("github/issues.opened.1.json");
    let body: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(&json).unwrap())
        .finish();
    let src = source(SourceKind::Github, "k");
    let sig = format!(
        "sha256={}",
        signature::sign_sha256_hex("k", body.as_bytes())
    );
    let h = headers(&[
        ("x-github-event", "issues"),
        ("x-hub-signature-256", &sig),
        ("content-type", "application/x-www-form-urlencoded"),
    ]);
    let ev = receive_body(&src, &h, body.as_bytes()).unwrap();
    assert_eq!(ev.kind, "issues.opened");
}

#[test]
fn bad_bodies_are_400_or_415() {
    let src = unsigned(SourceKind::Github);
    let h = headers(&[("x-github-event", "push")]);
    for body in [&b"not json"[..], b"[1,2]", b"\"s\"", b""] {
        assert!(matches!(
            receive_body(&src, &h, body),
            Err(Rejection::BadRequest(_))
        ));
    }
    let h = headers(&[("x-github-event", "push"), ("content-type", "text/plain")]);
    assert!(matches!(
        receive_body(&src, &h, b"{}"),
        Err(Rejection::UnsupportedMediaType(_))
    ));
    let h = HeaderMap::new();
    assert!(matches!(
        receive_body(&src, &h, b"{}"),
        Err(Rejection::BadRequest(_))
    ));
}

#[test]
fn bodies_are_read_as_utf8_once() {
    let src = unsigned(SourceKind::Github);
    let h = headers(&[("x-github-event", "push")]);
    // Invalid UTF-8 inside a string, where only the parser's own
    // per-string check used to see it: 400, naming the byte.
    match receive_body(&src, &h, b"{\"ref\": \"refs/heads/m\xffain\"}") {
        Err(Rejection::BadRequest(m)) => {
            assert_eq!(m, "body is not valid JSON: not UTF-8 at byte 21")
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    // Non-ASCII text and escapes still come through as they are.
    let ev = receive_body(
        &src,
        &h,
        "{\"ref\": \"refs/heads/caf\u{e9}-\\u00e9\"}".as_bytes(),
    )
    .unwrap();
    assert_eq!(ev.branch.as_deref(), Some("caf\u{e9}-\u{e9}"));
}

/// The headers a fixture's `.headers` file lists, as (name, value) pairs.
fn fixture_header_pairs(rel: &str) -> Vec<(String, String)> {
    let text = String::from_utf8(fixture(&rel.replace(".json", ".headers"))).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

fn owned_headers(pairs: &[(String, String)]) -> HeaderMap {
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&k[..], &v[..])).collect();
    headers(&pairs)
}

/// Every Gitea and Gogs fixture, sent with its own headers, and the kind it
/// must become: GitHub's event names and actions.
const FORGE_FIXTURE_KINDS: &[(&str, &str)] = &[
    ("gitea/create.1", "create"),
    ("gitea/create.2", "create"),
    ("gitea/delete.1", "delete"),
    ("gitea/fork.1", "fork"),
    ("gitea/issue_assign.assigned.1", "issues.assigned"),
    ("gitea/issue_comment.created.1", "issue_comment.created"),
    ("gitea/issue_comment.created.2", "issue_comment.created"),
    ("gitea/issue_comment.created.3", "issue_comment.created"),
    ("gitea/issue_comment.edited.1", "issue_comment.edited"),
    ("gitea/issue_label.label_updated.1", "issues.label_updated"),
    ("gitea/issue_milestone.milestoned.1", "issues.milestoned"),
    ("gitea/issues.assigned.1", "issues.assigned"),
    ("gitea/issues.closed.1", "issues.closed"),
    ("gitea/issues.edited.1", "issues.edited"),
    ("gitea/issues.opened.1", "issues.opened"),
    ("gitea/issues.opened.2", "issues.opened"),
    ("gitea/issues.reopened.1", "issues.reopened"),
    ("gitea/pull_request.assigned.1", "pull_request.assigned"),
    ("gitea/pull_request.closed.1", "pull_request.closed"),
    ("gitea/pull_request.closed.2", "pull_request.merged"),
    ("gitea/pull_request.closed.3", "pull_request.closed"),
    ("gitea/pull_request.edited.1", "pull_request.edited"),
    ("gitea/pull_request.opened.1", "pull_request.opened"),
    ("gitea/pull_request.opened.2", "pull_request.opened"),
    ("gitea/pull_request.reopened.1", "pull_request.reopened"),
    (
        "gitea/pull_request_assign.assigned.1",
        "pull_request.assigned",
    ),
    (
        "gitea/pull_request_comment.created.1",
        "issue_comment.created",
    ),
    (
        "gitea/pull_request_label.label_updated.1",
        "pull_request.label_updated",
    ),
    (
        "gitea/pull_request_milestone.milestoned.1",
        "pull_request.milestoned",
    ),
    // Gitea's `reviewed` is GitHub's `submitted`.
    (
        "gitea/pull_request_review.reviewed.1",
        "pull_request_review.submitted",
    ),
    ("gitea/push.1", "push"),
    ("gitea/push.2", "push"),
    ("gitea/release.published.1", "release.published"),
    ("gitea/repository.created.1", "repository.created"),
    ("gogs/create.1", "create"),
    ("gogs/create.2", "create"),
    ("gogs/delete.1", "delete"),
    ("gogs/fork.1", "fork"),
    ("gogs/issue_comment.created.1", "issue_comment.created"),
    ("gogs/issue_comment.created.2", "issue_comment.created"),
    ("gogs/issue_comment.edited.1", "issue_comment.edited"),
    ("gogs/issues.assigned.1", "issues.assigned"),
    ("gogs/issues.closed.1", "issues.closed"),
    ("gogs/issues.edited.1", "issues.edited"),
    ("gogs/issues.opened.1", "issues.opened"),
    ("gogs/issues.opened.2", "issues.opened"),
    ("gogs/issues.reopened.1", "issues.reopened"),
    ("gogs/pull_request.assigned.1", "pull_request.assigned"),
    ("gogs/pull_request.closed.1", "pull_request.closed"),
    ("gogs/pull_request.closed.2", "pull_request.merged"),
    ("gogs/pull_request.edited.1", "pull_request.edited"),
    ("gogs/pull_request.opened.1", "pull_request.opened"),
    ("gogs/pull_request.opened.2", "pull_request.opened"),
    ("gogs/pull_request.reopened.1", "pull_request.reopened"),
    (
        "gogs/pull_request.synchronized.1",
        "pull_request.synchronize",
    ),
    ("gogs/push.1", "push"),
    ("gogs/push.2", "push"),
    ("gogs/push.3", "push"),
    ("gogs/push.4", "push"),
    ("gogs/push.5", "push"),
    ("gogs/release.published.1", "release.published"),
    ("gogs/release.published.2", "release.published"),
];

#[test]
fn forge_fixtures_get_github_event_names() {
    for dir in ["gitea", "gogs"] {
        let on_disk = std::fs::read_dir(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(dir),
        )
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
        let listed = FORGE_FIXTURE_KINDS
            .iter()
            .filter(|(stem, _)| stem.starts_with(&format!("{dir}/")))
            .count();
        assert_eq!(listed, on_disk, "every {dir} fixture is listed");
    }
    for (stem, want) in FORGE_FIXTURE_KINDS {
        let rel = format!("{stem}.json");
        let body = fixture(&rel);
        let pairs = fixture_header_pairs(&rel);
        let mut kinds = vec![];
        if stem.starts_with("gitea/") {
            kinds.push((SourceKind::Gitea, pairs.clone()));
            // Forgejo sends the same under its own header names.
            let forgejo = pairs
                .iter()
                .map(|(k, v)| (k.replace("x-gitea-", "x-forgejo-"), v.clone()))
                .collect();
            kinds.push((SourceKind::Forgejo, forgejo));
        } else {
            kinds.push((SourceKind::Gogs, pairs.clone()));
            // DagsHub is Gogs-based: the Gogs payloads stand in for it.
            let dagshub = pairs
                .iter()
                .map(|(k, v)| (k.replace("x-gogs-", "x-dagshub-"), v.clone()))
                .collect();
            kinds.push((SourceKind::Dagshub, dagshub));
        }
        for (kind, pairs) in kinds {
            let ev = receive_body(&unsigned(kind), &owned_headers(&pairs), &body)
                .unwrap_or_else(|e| panic!("{rel} as {kind}: {e:?}"));
            assert_eq!(ev.kind, *want, "{rel} as {kind}");
        }
    }
}

/// What current Gitea sends as `X-Gitea-Event` for each internal event type
/// (`HookEventType.Event()` in Gitea's `modules/webhook/type.go`).
fn gitea_coarse(event_type: &str) -> &str {
    match event_type {
        "issue_assign" | "issue_label" | "issue_milestone" => "issues",
        "pull_request_assign"
        | "pull_request_label"
        | "pull_request_milestone"
        | "pull_request_sync"
        | "pull_request_review_request" => "pull_request",
        "pull_request_comment" => "issue_comment",
        "pull_request_review_approved" => "pull_request_approved",
        "pull_request_review_rejected" => "pull_request_rejected",
        "pull_request_review_comment" => "pull_request_comment",
        other => other,
    }
}

#[test]
fn gitea_event_type_header_names_the_event() {
    // The go-playground fixtures send the internal name as the event; newer
    // Gitea sends it as `-Type`, with the coarse name as the event.
    for (stem, want) in FORGE_FIXTURE_KINDS {
        let Some(name) = stem.strip_prefix("gitea/") else {
            continue;
        };
        let event_type = name.split('.').next().unwrap();
        let event_types: &[&str] = if event_type == "pull_request_review" {
            &[
                "pull_request_review_approved",
                "pull_request_review_rejected",
                "pull_request_review_comment",
            ]
        } else {
            &[event_type]
        };
        let body = fixture(&format!("{stem}.json"));
        for t in event_types {
            let coarse = gitea_coarse(t);
            for (kind, prefix) in [
                (SourceKind::Gitea, "x-gitea-"),
                (SourceKind::Forgejo, "x-forgejo-"),
                (SourceKind::Forgejo, "x-gitea-"),
            ] {
                let h = headers(&[
                    (&format!("{prefix}event"), coarse),
                    (&format!("{prefix}event-type"), t),
                ]);
                let ev = receive_body(&unsigned(kind), &h, &body).unwrap();
                assert_eq!(ev.kind, *want, "{stem}: {coarse} / {t} as {kind}");
            }
        }
    }
}

#[test]
fn gitea_review_requests_are_pull_request_events() {
    let mut payload: Value =
        serde_json::from_slice(&fixture("gitea/pull_request.opened.1.json")).unwrap();
    for action in ["review_requested", "review_request_removed"] {
        payload["action"] = action.into();
        payload["requested_reviewer"] = serde_json::json!({"login": "rev"});
        let body = serde_json::to_vec(&payload).unwrap();
        for (kind, prefix) in [
            (SourceKind::Gitea, "x-gitea-"),
            (SourceKind::Forgejo, "x-forgejo-"),
        ] {
            let h = headers(&[
                (&format!("{prefix}event"), "pull_request"),
                (
                    &format!("{prefix}event-type"),
                    "pull_request_review_request",
                ),
            ]);
            let ev = receive_body(&unsigned(kind), &h, &body).unwrap();
            assert_eq!(ev.kind, format!("pull_request.{action}"), "{kind}");
            assert!(ev.pull_request.is_some());
            assert!(ev.number.is_some());
        }
    }
}

#[test]
fn gitea_reviewed_is_githubs_submitted_and_only_there() {
    let body = fixture("gitea/pull_request_review.reviewed.1.json");
    let h = headers(&[("x-gitea-event", "pull_request_review")]);
    let ev = receive_body(&unsigned(SourceKind::Gitea), &h, &body).unwrap();
    assert_eq!(ev.kind, "pull_request_review.submitted");
    // The verdict stays in the payload for the templates.
    assert_eq!(ev.payload["action"], "reviewed");
    assert_eq!(ev.payload["review"]["type"], "pull_request_comment");
    assert!(ev.pull_request.is_some());
    // GitHub's own names pass as they are.
    let h = headers(&[("x-github-event", "pull_request_review")]);
    let ev = receive_body(&unsigned(SourceKind::Github), &h, &body).unwrap();
    assert_eq!(ev.kind, "pull_request_review.reviewed");
}

#[test]
fn gitea_event_types_without_a_table_entry() {
    let body = br#"{"action":"created","repository":{"full_name":"o/r"}}"#;
    for (event, event_type, want) in [
        // Names GitHub has too, or GitHub's name for the same event.
        ("wiki", "wiki", "gollum.created"),
        ("package", "package", "package.created"),
        ("", "package", "package.created"),
        ("status", "status", "status.created"),
        ("workflow_run", "workflow_run", "workflow_run.created"),
        ("workflow_job", "workflow_job", "workflow_job.created"),
        ("", "workflow_dispatch", "workflow_dispatch.created"),
        (
            "pull_request_review",
            "pull_request_review",
            "pull_request_review.created",
        ),
        // Forgejo's own, with no GitHub counterpart: kept.
        (
            "action_run_failure",
            "action_run_failure",
            "action_run_failure.created",
        ),
        ("", "schedule", "schedule.created"),
        // A type this code does not know yet, grouped by the forge under a
        // GitHub event: the group.
        (
            "pull_request",
            "pull_request_frobnicated",
            "pull_request.created",
        ),
        ("issues", "issue_frobnicated", "issues.created"),
        // ... not grouped, or grouped under a forge-only name: kept.
        ("", "frobnicated", "frobnicated.created"),
        ("frobnicated", "frobnicated", "frobnicated.created"),
        (
            "pull_request_comment",
            "pull_request_review_frobnicated",
            "pull_request_review_frobnicated.created",
        ),
        // An empty `-Type` is no name: the event header is.
        ("issues", "", "issues.created"),
    ] {
        for (kind, prefix) in [
            (SourceKind::Gitea, "x-gitea-"),
            (SourceKind::Forgejo, "x-forgejo-"),
        ] {
            let h = headers(&[
                (&format!("{prefix}event"), event),
                (&format!("{prefix}event-type"), event_type),
            ]);
            let ev = receive_body(&unsigned(kind), &h, body)
                .unwrap_or_else(|e| panic!("{event} / {event_type}: {e:?}"));
            assert_eq!(ev.kind, want, "{event} / {event_type} as {kind}");
        }
    }
    // Neither header names anything: still a clear 400.
    let h = headers(&[("x-gitea-event", ""), ("x-gitea-event-type", "")]);
    assert!(matches!(
        receive_body(&unsigned(SourceKind::Gitea), &h, body),
        Err(Rejection::BadRequest(_))
    ));
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    fn header_name() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "x-github-event",
            "x-hub-signature-256",
            "x-hub-signature",
            "x-gitea-event",
            "x-gitea-event-type",
            "x-gitea-signature",
            "x-forgejo-event",
            "x-gogs-event",
            "x-gogs-signature",
            "x-dagshub-event",
            "x-gitlab-token",
            "x-gitlab-event-uuid",
            "x-webhook-secret",
            "content-type",
        ])
    }

    fn json_ish() -> impl Strategy<Value = Vec<u8>> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            "[ -~]{0,12}".prop_map(Value::String),
        ];
        let keys = prop::sample::select(vec![
            "action",
            "ref",
            "ref_type",
            "repository",
            "pull_request",
            "issue",
            "comment",
            "commits",
            "sender",
            "event",
            "scope",
            "repo",
            "discussion",
            "object_kind",
            "object_attributes",
            "project",
            "merged",
            "labels",
            "webhook",
            "version",
            "name",
            "full_name",
            "type",
            "updatedRefs",
            "release",
            "forkee",
            "workflow_run",
        ]);
        leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys.clone(), inner, 0..6).prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
        .prop_map(|v| serde_json::to_vec(&v).unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn receive_never_panics(
            kind in prop::sample::select(SourceKind::ALL.to_vec()),
            signed in any::<bool>(),
            hdrs in prop::collection::vec((header_name(), "[ -~]{0,24}"), 0..6),
            body in prop_oneof![prop::collection::vec(any::<u8>(), 0..256), json_ish()],
        ) {
            let src = SourceConfig {
                secrets: if signed { vec![Secret::new("k")] } else { vec![] },
                allow_unsigned: !signed,
                ..source(kind, "k")
            };
            let mut h = HeaderMap::new();
            for (k, v) in &hdrs {
                if let Ok(v) = HeaderValue::from_str(v.trim()) {
                    h.append(HeaderName::from_static(k), v);
                }
            }
            let d = Delivery { headers: &h, query: Some("secret=k&x=%ZZ"), body: &body };
            if let Ok(ev) = receive(&src, &d) {
                prop_assert!(!ev.kind.is_empty());
                prop_assert!(!ev.delivery_id.is_empty());
                prop_assert!(ev.payload.get("secret").is_none());
            }
        }
    }
}

#[test]
fn hub_people_are_named_only_when_a_name_is_sent() {
    let src = source(SourceKind::Huggingface, "k");
    let h = headers(&[("x-webhook-secret", "k")]);
    // The fixtures carry only account ids: no actor rather than a hex id.
    for rel in [
        "huggingface/discussion.create.1.json",
        "huggingface/discussion.update.1.json",
    ] {
        let ev = receive_body(&src, &h, &fixture(rel)).unwrap();
        assert_eq!(ev.actor.name, "", "{rel}");
    }
    // A name, when there is one, is the comment's author...
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("huggingface/discussion.create.1.json")).unwrap();
    v["event"]["scope"] = serde_json::json!("discussion.comment");
    v["comment"]["author"]["name"] = serde_json::json!("ann");
    let ev = receive_body(&src, &h, v.to_string().as_bytes()).unwrap();
    assert_eq!(ev.actor.name, "ann");
    // ...but a discussion's author did not make an update to it.
    let mut v: serde_json::Value =
        serde_json::from_slice(&fixture("huggingface/discussion.update.1.json")).unwrap();
    v["discussion"]["author"]["name"] = serde_json::json!("bob");
    let ev = receive_body(&src, &h, v.to_string().as_bytes()).unwrap();
    assert_eq!(ev.actor.name, "");
}

#[test]
fn gitea_fork_heads_and_new_branch_pushes_read_right() {
    let src = source(SourceKind::Gitea, "k");
    let with_headers = |rel: &str| {
        let body = fixture(rel);
        let mut pairs = fixture_header_pairs(rel);
        pairs.retain(|(k, _)| !k.contains("signature"));
        pairs.push((
            "x-gitea-signature".into(),
            crate::sources::signature::sign_sha256_hex("k", &body),
        ));
        let h = owned_headers(&pairs);
        receive_body(&src, &h, &body).unwrap()
    };
    let pr = with_headers("gitea/pull_request.opened.2.json");
    let p = pr.pull_request.unwrap();
    assert_eq!(
        (p.base.as_str(), p.head.as_str()),
        ("master", "example2:master")
    );
    let push = with_headers("gitea/push.2.json");
    assert!(
        !push.compare_url.contains("0000000000"),
        "{}",
        push.compare_url
    );
    assert!(
        push.compare_url
            .ends_with("/commit/67b56589a45103f891bdee7c0546e5d40bc02001")
    );
    let issue = with_headers("gitea/issues.opened.1.json");
    assert_eq!(issue.url, "https://try.gitea.io/kostekIV/test/issues/3");
}

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

// ------------------------------------------- what each event says (issue 18)

/// A fixture sent as its source sends it (its `.headers`), unsigned.
fn fixture_event(kind: SourceKind, rel: &str) -> Event {
    let body = fixture(rel);
    let pairs = fixture_header_pairs(rel);
    receive_body(&unsigned(kind), &owned_headers(&pairs), &body)
        .unwrap_or_else(|e| panic!("{rel}: {e:?}"))
}

/// A fixture's payload with some fields changed, sent with its headers.
fn changed_fixture(kind: SourceKind, rel: &str, change: impl FnOnce(&mut Value)) -> Event {
    let mut v: Value = serde_json::from_slice(&fixture(rel)).unwrap();
    change(&mut v);
    let pairs = fixture_header_pairs(rel);
    receive_body(
        &unsigned(kind),
        &owned_headers(&pairs),
        v.to_string().as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{rel}: {e:?}"))
}

fn gitlab_body(header: &str, body: &Value) -> Event {
    let h = headers(&[("x-gitlab-event", header)]);
    receive_body(
        &unsigned(SourceKind::Gitlab),
        &h,
        body.to_string().as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{header}: {e:?}"))
}

/// Every GitHub and GitLab fixture, sent with its own headers, and the
/// kind it must become.
const FIXTURE_KINDS: &[(&str, &str)] = &[
    ("github/check_run.completed.1", "check_run.completed"),
    ("github/check_run.rerequested.1", "check_run.rerequested"),
    ("github/check_suite.completed.1", "check_suite.completed"),
    (
        "github/code_scanning_alert.created.1",
        "code_scanning_alert.created",
    ),
    ("github/commit_comment.created.1", "commit_comment.created"),
    ("github/create.1", "create"),
    ("github/delete.1", "delete"),
    (
        "github/dependabot_alert.created.1",
        "dependabot_alert.created",
    ),
    ("github/deployment.1", "deployment"),
    ("github/deployment_status.1", "deployment_status"),
    ("github/discussion.created.1", "discussion.created"),
    (
        "github/discussion_comment.created.1",
        "discussion_comment.created",
    ),
    ("github/gollum.1", "gollum"),
    ("github/issue_comment.created.1", "issue_comment.created"),
    ("github/issues.assigned.1", "issues.assigned"),
    ("github/issues.closed.1", "issues.closed"),
    ("github/issues.labeled.1", "issues.labeled"),
    ("github/issues.opened.1", "issues.opened"),
    ("github/member.added.1", "member.added"),
    ("github/ping.1", "ping"),
    ("github/public.1", "public"),
    ("github/pull_request.closed.1", "pull_request.closed"),
    ("github/pull_request.closed.2", "pull_request.merged"),
    ("github/pull_request.closed.3", "pull_request.merged"),
    ("github/pull_request.opened.1", "pull_request.opened"),
    ("github/pull_request.opened.2", "pull_request.opened"),
    (
        "github/pull_request.review_requested.1",
        "pull_request.review_requested",
    ),
    (
        "github/pull_request.synchronize.1",
        "pull_request.synchronize",
    ),
    (
        "github/pull_request_review.submitted.1",
        "pull_request_review.submitted",
    ),
    (
        "github/pull_request_review_comment.created.1",
        "pull_request_review_comment.created",
    ),
    ("github/push.1", "push"),
    ("github/push.2", "push"),
    ("github/push.3", "push"),
    ("github/release.published.1", "release.published"),
    (
        "github/repository_vulnerability_alert.dismiss.1",
        "repository_vulnerability_alert.dismiss",
    ),
    (
        "github/secret_scanning_alert.reopened.1",
        "secret_scanning_alert.reopened",
    ),
    ("github/star.created.1", "star.created"),
    ("github/status.1", "status"),
    ("github/watch.started.1", "watch.started"),
    ("github/workflow_job.completed.1", "workflow_job.completed"),
    ("github/workflow_run.completed.1", "workflow_run.completed"),
    (
        "github/workflow_run.in_progress.1",
        "workflow_run.in_progress",
    ),
    ("gitlab/build.failed.1", "build.failed"),
    ("gitlab/build.success.1", "build.success"),
    ("gitlab/deployment.failed.1", "deployment.failed"),
    ("gitlab/deployment.success.1", "deployment.success"),
    ("gitlab/emoji.award.1", "emoji.award"),
    ("gitlab/emoji.revoke.1", "emoji.revoke"),
    ("gitlab/feature_flag.1", "feature_flag.deactivated"),
    ("gitlab/issue.close.1", "issues.closed"),
    ("gitlab/issue.open.1", "issues.opened"),
    ("gitlab/issue.open.2", "issues.opened"),
    ("gitlab/issue.open.3", "issues.opened"),
    ("gitlab/issue.open.4", "issues.opened"),
    ("gitlab/issue.reopen.1", "issues.reopened"),
    ("gitlab/issue.update.1", "issues.edited"),
    ("gitlab/merge_request.approval.1", "pull_request.approval"),
    ("gitlab/merge_request.approved.1", "pull_request.approved"),
    ("gitlab/merge_request.merge.1", "pull_request.merged"),
    ("gitlab/merge_request.open.1", "pull_request.opened"),
    ("gitlab/merge_request.open.2", "pull_request.opened"),
    ("gitlab/merge_request.reopen.1", "pull_request.reopened"),
    (
        "gitlab/merge_request.unapproval.1",
        "pull_request.unapproval",
    ),
    (
        "gitlab/merge_request.unapproved.1",
        "pull_request.unapproved",
    ),
    ("gitlab/merge_request.update.1", "pull_request.edited"),
    ("gitlab/merge_request.update.2", "pull_request.synchronize"),
    ("gitlab/note.1", "issue_comment.created"),
    ("gitlab/note.2", "commit_comment.created"),
    ("gitlab/note.3", "note.created"),
    ("gitlab/note.4", "note.created"),
    ("gitlab/pipeline.pending.1", "pipeline.pending"),
    ("gitlab/pipeline.running.1", "pipeline.running"),
    ("gitlab/push.1", "push"),
    ("gitlab/push.2", "push"),
    ("gitlab/push.3", "push"),
    ("gitlab/push.4", "push"),
    ("gitlab/release.create.1", "release.published"),
    ("gitlab/release.update.1", "release.edited"),
    ("gitlab/tag_push.1", "push"),
];

#[test]
fn github_and_gitlab_fixtures_get_their_kinds_and_a_repo_key() {
    for dir in ["github", "gitlab"] {
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
        let listed = FIXTURE_KINDS
            .iter()
            .filter(|(stem, _)| stem.starts_with(&format!("{dir}/")))
            .count();
        assert_eq!(listed, on_disk, "every {dir} fixture is listed");
    }
    for (stem, want) in FIXTURE_KINDS {
        let kind = if stem.starts_with("gitlab/") {
            SourceKind::Gitlab
        } else {
            SourceKind::Github
        };
        let ev = fixture_event(kind, &format!("{stem}.json"));
        assert_eq!(ev.kind, *want, "{stem}");
        // The action is the kind's last part, in the same words.
        match want.split_once('.') {
            Some((_, action)) => assert_eq!(ev.action, action, "{stem}"),
            None => assert_eq!(ev.action, "", "{stem}"),
        }
        // Every event with a repository has its key (GitLab jobs included);
        // the retired vulnerability alert is sent without one.
        if *stem != "github/repository_vulnerability_alert.dismiss.1" {
            assert!(!ev.repo.key.is_empty(), "{stem}: no repo key");
        }
        // Every message has someone or something to name and link.
        assert!(!ev.url.is_empty(), "{stem}: no link");
    }
}

/// The words a message is made of, per fixture: a GitLab note's noun and
/// reference, ref deletions, each CI conclusion.
#[test]
fn the_words_that_matter() {
    let gl = |rel: &str| fixture_event(SourceKind::Gitlab, rel);
    let gh = |rel: &str| fixture_event(SourceKind::Github, rel);
    // What a note is on.
    for (ev, noun, reference, title) in [
        (gl("gitlab/note.1.json"), "issue", "#1", "Add more lines"),
        (gl("gitlab/note.2.json"), "commit", "82689dd", "82689dd"),
        (
            gl("gitlab/note.3.json"),
            "snippet",
            "$2547713",
            "a very new new feature",
        ),
        (gl("gitlab/note.4.json"), "design", "", "Screenshot.png"),
        (gl("gitlab/issue.close.1.json"), "incident", "#6", "Testing"),
        (
            gl("gitlab/merge_request.open.1.json"),
            "merge request",
            "!2",
            "NEW MR",
        ),
        (
            gh("github/issue_comment.created.1.json"),
            "issue",
            "#2",
            "Spelling error in the README file",
        ),
        (
            gh("github/commit_comment.created.1.json"),
            "commit",
            "9049f12",
            "9049f12",
        ),
        (
            gh("github/pull_request_review_comment.created.1.json"),
            "pull request",
            "#1",
            "Update the README with new information",
        ),
        (
            gh("github/discussion_comment.created.1.json"),
            "discussion",
            "#20",
            "Lets discuss",
        ),
    ] {
        let item = ev
            .item
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no item", ev.kind));
        assert_eq!(
            (
                item.noun.as_str(),
                item.reference.as_str(),
                item.title.as_str()
            ),
            (noun, reference, title),
            "{}",
            ev.kind
        );
        assert!(!item.url.is_empty(), "{} {noun}: no link", ev.kind);
    }
    // Deletions: GitHub's flag, GitLab's zeros, GitLab's null checkout.
    for (ev, deleted, created) in [
        (gh("github/push.2.json"), true, false),
        (gh("github/push.1.json"), false, false),
        (gh("github/delete.1.json"), true, false),
        (gh("github/create.1.json"), false, true),
        (gl("gitlab/tag_push.1.json"), true, false),
        (gl("gitlab/push.3.json"), false, true),
        (gl("gitlab/push.1.json"), false, false),
    ] {
        assert_eq!(
            (ev.deleted, ev.created),
            (deleted, created),
            "{} {:?}{:?}",
            ev.kind,
            ev.branch,
            ev.tag
        );
        if ev.deleted && ev.kind == "push" {
            assert_eq!(ev.compare_url, "", "nothing to compare with a deleted ref");
        }
    }
    // Each CI result, in the same words for every forge.
    for (ev, status, conclusion, name) in [
        (
            gh("github/check_run.completed.1.json"),
            "completed",
            "failure",
            "success_job",
        ),
        (
            gh("github/check_run.rerequested.1.json"),
            "completed",
            "success",
            "randscape",
        ),
        (
            gh("github/check_suite.completed.1.json"),
            "completed",
            "success",
            "octocoders-linter",
        ),
        (
            gh("github/workflow_run.completed.1.json"),
            "completed",
            "success",
            "test",
        ),
        // The workflow's name, not the run's title (`PR #166`).
        (
            gh("github/workflow_run.in_progress.1.json"),
            "in_progress",
            "",
            "CodeQL",
        ),
        (
            gh("github/workflow_job.completed.1.json"),
            "completed",
            "failure",
            "linters",
        ),
        (
            gh("github/status.1.json"),
            "completed",
            "success",
            "default",
        ),
        (
            gh("github/deployment_status.1.json"),
            "completed",
            "success",
            "production",
        ),
        (gh("github/deployment.1.json"), "queued", "", "production"),
        (gl("gitlab/pipeline.pending.1.json"), "queued", "", ""),
        (gl("gitlab/pipeline.running.1.json"), "in_progress", "", ""),
        (
            gl("gitlab/build.failed.1.json"),
            "completed",
            "failure",
            "build-job",
        ),
        (
            gl("gitlab/build.success.1.json"),
            "completed",
            "success",
            "deploy-job",
        ),
        (
            gl("gitlab/deployment.failed.1.json"),
            "completed",
            "failure",
            "production",
        ),
        (
            gl("gitlab/deployment.success.1.json"),
            "completed",
            "success",
            "production",
        ),
    ] {
        let ci = ev
            .ci
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no ci", ev.kind));
        assert_eq!(
            (ci.status.as_str(), ci.conclusion.as_str(), ci.name.as_str()),
            (status, conclusion, name),
            "{}",
            ev.kind
        );
        assert_eq!(ci.finished, status == "completed", "{}", ev.kind);
        assert!(!ci.url.is_empty(), "{}: no link", ev.kind);
    }
}

#[test]
fn ci_facts() {
    let gh = |rel: &str| fixture_event(SourceKind::Github, rel);
    let run = gh("github/workflow_run.completed.1.json");
    let ci = run.ci.unwrap();
    assert_eq!(ci.number, Some(163));
    assert_eq!(ci.branch, "master");
    assert_eq!(run.branch.as_deref(), Some("master"));
    assert_eq!(run.title, "test");
    assert_eq!(ci.sha, "3484a3fb816e0859fd6e1cea078d76385ff50625");
    assert_eq!(
        ci.commit_url,
        "https://github.com/octo-org/octo-repo/commit/3484a3fb816e0859fd6e1cea078d76385ff50625"
    );
    assert_eq!(
        ci.commit_title,
        "build(test): check workflow run event payload"
    );
    let pr = ci.pull_request.unwrap();
    assert_eq!(pr.number, Some(2));
    assert_eq!(pr.url, "https://github.com/octo-org/octo-repo/pull/2");
    assert_eq!((ci.duration_secs, ci.duration.as_str()), (Some(25), "25s"));
    assert_eq!(ci.trigger, "repository_dispatch");

    // A run for a pull request's merge ref names the pull request, not a
    // `refs/pull/…` branch.
    let ci = gh("github/workflow_run.in_progress.1.json").ci.unwrap();
    assert_eq!(ci.branch, "");
    assert_eq!(ci.pull_request.unwrap().number, Some(166));
    assert!(!ci.finished);
    assert_eq!(ci.duration, "", "no duration before the end");

    let job = gh("github/workflow_job.completed.1.json").ci.unwrap();
    assert_eq!(job.duration, "3m 18s");
    let suite = gh("github/check_suite.completed.1.json");
    assert_eq!(suite.ci.as_ref().unwrap().duration, "43s");
    assert_eq!(suite.ci.unwrap().pull_request.unwrap().number, Some(2));
    let status = gh("github/status.1.json").ci.unwrap();
    assert_eq!(status.url, "https://example.com/build/status");
    assert_eq!(status.commit_title, "Initial commit");

    // GitLab: the pipeline's failed jobs, linked; a job's repo key and
    // duration; a deployment's environment and commit.
    let mut v: Value = serde_json::from_slice(&fixture("gitlab/pipeline.running.1.json")).unwrap();
    v["object_attributes"]["status"] = "failed".into();
    v["object_attributes"]["duration"] = 63.into();
    v["builds"][1]["status"] = "failed".into();
    v["merge_request"] = serde_json::json!({"iid": 12, "url": "https://gitlab.com/TomaszKolek/my-awesome-project/-/merge_requests/12", "title": "Fix"});
    let ev = gitlab_body("Pipeline Hook", &v);
    assert_eq!(ev.kind, "pipeline.failed");
    let ci = ev.ci.unwrap();
    assert_eq!((ci.conclusion.as_str(), ci.finished), ("failure", true));
    assert_eq!(ci.duration, "1m 3s");
    assert_eq!(ci.number, Some(4414206));
    assert_eq!(
        ci.url,
        "https://gitlab.com/TomaszKolek/my-awesome-project/-/pipelines/4414206"
    );
    assert_eq!(ci.failed_jobs.len(), 1);
    assert_eq!(ci.failed_jobs[0].name, "job_name2");
    assert_eq!(
        ci.failed_jobs[0].url,
        "https://gitlab.com/TomaszKolek/my-awesome-project/-/jobs/4541113"
    );
    assert_eq!(ci.pull_request.unwrap().number, Some(12));

    let build = fixture_event(SourceKind::Gitlab, "gitlab/build.failed.1.json");
    let ci = build.ci.unwrap();
    assert_eq!(ci.duration, "31s");
    assert_eq!(ci.description, "script failure");
    assert_eq!(ci.failed_jobs.len(), 1);
    let dep = fixture_event(SourceKind::Gitlab, "gitlab/deployment.failed.1.json");
    let ci = dep.ci.unwrap();
    assert_eq!(ci.environment, "production");
    assert_eq!(ci.sha, "846d8de0b7b3d694954249d2fd5d87fbe8c84e4c");
    assert_eq!(
        ci.url,
        "https://gitlab.com/vedant8600317/test/-/jobs/9905759933"
    );
}

#[test]
fn gitlab_jobs_have_a_repo_key_even_in_the_old_shape() {
    // The job payload of GitLab's older docs: no `project`, the path in
    // `project_name`, the page in `repository.homepage`; `Build Hook`.
    let body = serde_json::json!({
        "object_kind": "build", "ref": "gitlab-script-trigger", "tag": false,
        "sha": "2293ada6b400935a1378653304eaf6221e0fdb8f", "build_id": 1977,
        "build_name": "test", "build_stage": "test", "build_status": "created",
        "project_id": 380, "project_name": "gitlab-org/gitlab-test",
        "user": {"id": 3, "name": "User", "email": "user@gitlab.com"},
        "repository": {"name": "gitlab_test",
                       "homepage": "http://192.168.64.1:3005/gitlab-org/gitlab-test"}
    });
    let ev = gitlab_body("Build Hook", &body);
    assert_eq!(ev.kind, "build.created");
    assert_eq!(ev.repo.key, "gitlab-org/gitlab-test");
    assert!(!ev.ci.unwrap().finished);
    // Without `object_kind` the header names the event.
    let mut bare = body.clone();
    bare.as_object_mut().unwrap().remove("object_kind");
    assert_eq!(gitlab_body("Job Hook", &bare).kind, "build.created");
    bare.as_object_mut().unwrap().remove("repository");
    assert_eq!(
        gitlab_body("Job Hook", &bare).repo.key,
        "gitlab-org/gitlab-test"
    );
}

#[test]
fn gitlab_test_button_is_a_short_set_up_message() {
    // The Test button sends a sample of the event without an action; older
    // GitLab said so in the header.
    let body: Value = serde_json::from_slice(&fixture("gitlab/issue.open.1.json")).unwrap();
    let mut sample = body.clone();
    sample["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("action");
    for (header, body) in [("Test Hook", &body), ("Issue Hook", &sample)] {
        let ev = gitlab_body(header, body);
        assert_eq!(ev.kind, "ping.test", "{header}");
        assert_eq!(ev.action, "test");
        assert_eq!(ev.repo.key, "tomaszkolek0/my-awesome-project");
        // Routed and posted, unlike a forge's ping.
        assert!(!crate::pipeline::is_ping(&ev));
        assert!(ev.kind_matches("ping"));
    }
    let mut mr: Value =
        serde_json::from_slice(&fixture("gitlab/merge_request.open.1.json")).unwrap();
    mr["object_attributes"]
        .as_object_mut()
        .unwrap()
        .remove("action");
    assert_eq!(gitlab_body("Merge Request Hook", &mr).kind, "ping.test");
}

#[test]
fn gitlab_people_by_display_name_with_login_and_avatar() {
    let ev = fixture_event(SourceKind::Gitlab, "gitlab/merge_request.open.2.json");
    assert_eq!(ev.actor.name, "Hemanth V. Alluri");
    assert_eq!(ev.actor.login, "Hypro999");
    assert_eq!(ev.actor.url, "https://gitlab.com/Hypro999");
    assert!(ev.actor.avatar_url.starts_with("https://"));
    let issue = fixture_event(SourceKind::Gitlab, "gitlab/issue.open.2.json");
    let names: Vec<&str> = issue.assignees.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Adam Birds", "Eeshan Garg"]);
    // Pushes name the pusher (flat fields); the tag push too.
    let push = fixture_event(SourceKind::Gitlab, "gitlab/push.1.json");
    assert_eq!(push.actor.name, "Tomasz Kolek");
    let tag = fixture_event(SourceKind::Gitlab, "gitlab/tag_push.1.json");
    assert_eq!(
        (tag.actor.name.as_str(), tag.actor.login.as_str()),
        ("Tomasz Kolek", "tomaszkolek0")
    );
    assert_eq!(tag.tag.as_deref(), Some("xyz"));
}

#[test]
fn gitlab_pushes_link_compare_and_keep_the_newest() {
    let ev = fixture_event(SourceKind::Gitlab, "gitlab/push.1.json");
    assert_eq!(
        ev.compare_url,
        "https://gitlab.com/tomaszkolek0/my-awesome-project/-/compare/5fcdd5551fc3085df79bece2c32b1400802ac407...eb6ae1e591e0819dc5bf187c6bfe18ec065a80e9"
    );
    assert_eq!(ev.url, ev.compare_url);
    // Newest first; the pusher's own commits flagged.
    let ids: Vec<&str> = ev.commits.iter().map(|c| &c.id[..7]).collect();
    assert_eq!(ids, ["eb6ae1e", "66abd2d"]);
    let by_pusher: Vec<(&str, bool)> = ev
        .commits
        .iter()
        .map(|c| (c.author.as_str(), c.by_pusher))
        .collect();
    assert_eq!(by_pusher, [("Ben", false), ("Tomasz Kolek", true)]);
    // A new branch links its head commit; a deleted one links nothing.
    let new = fixture_event(SourceKind::Gitlab, "gitlab/push.3.json");
    assert_eq!(
        new.compare_url,
        "https://gitlab.com/eeshangarg/my-awesome-project/-/commit/68d7a5528cf423dfaac37dd62a56ac9cc8a884e3"
    );
    let gone = changed_fixture(SourceKind::Gitlab, "gitlab/push.1.json", |v| {
        v["after"] = "0".repeat(40).into();
        v["checkout_sha"] = Value::Null;
        v["commits"] = serde_json::json!([]);
        v["total_commits_count"] = 0.into();
    });
    assert!(gone.deleted && !gone.created);
    assert_eq!(gone.branch.as_deref(), Some("tomek"));
    assert_eq!(gone.compare_url, "");
    assert_eq!(
        gone.url,
        "https://gitlab.com/tomaszkolek0/my-awesome-project"
    );
}

#[test]
fn github_pushes_keep_the_newest_and_flag_force_and_authors() {
    let forced = fixture_event(SourceKind::Github, "github/push.3.json");
    assert!(forced.forced);
    assert!(
        forced.commits[0].by_pusher,
        "sbansal1999 pushed their own commit"
    );
    // Three commits oldest first on the wire: newest first on the event.
    let ev = changed_fixture(SourceKind::Github, "github/push.1.json", |v| {
        let c = v["commits"][0].clone();
        let mut older = c.clone();
        older["id"] = "1111111111111111111111111111111111111111".into();
        older["author"]["username"] = "someone-else".into();
        older["author"]["name"] = "Someone Else".into();
        older["author"]["email"] = "else@example.com".into();
        v["commits"] = serde_json::json!([older, c]);
    });
    assert_eq!(&ev.commits[0].id[..7], "0d1a26e");
    assert!(ev.commits[0].by_pusher);
    assert!(!ev.commits[1].by_pusher);
    // Gitea lists the newest first already.
    let gitea = fixture_event(SourceKind::Gitea, "gitea/push.1.json");
    assert_eq!(&gitea.commits[0].id[..7], "2ec0c97");
}

#[test]
fn gitlab_confidential_items_carry_no_text() {
    let ev = fixture_event(SourceKind::Gitlab, "gitlab/issue.open.4.json");
    assert!(ev.confidential);
    assert_eq!(ev.body, "");
    assert_eq!(ev.title, "Testing", "the title and link stay");
    // A confidential (internal) note: by header, and by flag.
    for (header, internal) in [("Confidential Note Hook", false), ("Note Hook", true)] {
        let mut v: Value = serde_json::from_slice(&fixture("gitlab/note.1.json")).unwrap();
        v["object_attributes"]["internal"] = internal.into();
        let ev = gitlab_body(header, &v);
        assert!(ev.confidential, "{header}");
        assert_eq!(ev.body, "");
        assert_eq!(ev.comment.unwrap().body, "");
        assert!(!ev.url.is_empty());
    }
    let open = fixture_event(SourceKind::Gitlab, "gitlab/note.1.json");
    assert!(!open.confidential);
    assert_eq!(
        open.comment.unwrap().body,
        "This is again a random comment."
    );
}

#[test]
fn gitlab_notes_say_what_they_are_on() {
    // A note on a merge request: GitHub's issue comment on a pull request,
    // in GitLab's words; on its diff: GitHub's review comment.
    let mr_note = |diff: bool| {
        let mut v: Value = serde_json::from_slice(&fixture("gitlab/note.1.json")).unwrap();
        let attrs = &mut v["object_attributes"];
        attrs["noteable_type"] = "MergeRequest".into();
        attrs["url"] =
            "https://gitlab.com/sbansal1999/testing-zulip-gitlab-integration/-/merge_requests/1#note_1".into();
        if diff {
            attrs["type"] = "DiffNote".into();
            attrs["position"] = serde_json::json!({"new_path": "README.md", "new_line": 3});
        }
        let obj = v.as_object_mut().unwrap();
        obj.remove("issue");
        obj.insert(
            "merge_request".into(),
            serde_json::json!({"iid": 1, "title": "add new-feature", "state": "opened",
                "target_branch": "main",
                "url": "https://gitlab.com/sbansal1999/testing-zulip-gitlab-integration/-/merge_requests/1"}),
        );
        gitlab_body("Note Hook", &v)
    };
    let ev = mr_note(false);
    assert_eq!(ev.kind, "issue_comment.created");
    let item = ev.item.unwrap();
    assert_eq!(
        (
            item.noun.as_str(),
            item.reference.as_str(),
            item.item_type.as_str()
        ),
        ("merge request", "!1", "pull_request")
    );
    assert_eq!(ev.branch.as_deref(), Some("main"));
    let ev = mr_note(true);
    assert_eq!(ev.kind, "pull_request_review_comment.created");
    let c = ev.comment.unwrap();
    assert_eq!((c.path.as_str(), c.line), ("README.md", Some(3)));
}

#[test]
fn gitlab_merge_request_words() {
    let gl = |rel: &str| fixture_event(SourceKind::Gitlab, rel);
    for (rel, state) in [
        ("gitlab/merge_request.approved.1.json", "approved"),
        ("gitlab/merge_request.approval.1.json", "approved"),
        ("gitlab/merge_request.unapproved.1.json", "unapproved"),
        ("gitlab/merge_request.unapproval.1.json", "unapproved"),
    ] {
        assert_eq!(gl(rel).review.unwrap().state, state, "{rel}");
    }
    let merged = gl("gitlab/merge_request.merge.1.json");
    assert!(merged.pull_request.unwrap().merged);
    assert_eq!(merged.item.unwrap().state, "merged");
    let reviewers = gl("gitlab/merge_request.approval.1.json").requested_reviewers;
    assert!(!reviewers.is_empty());
    // Draft changes: ready for review, converted to draft.
    for (previous, current, want) in [
        (true, false, "pull_request.ready_for_review"),
        (false, true, "pull_request.converted_to_draft"),
    ] {
        let ev = changed_fixture(
            SourceKind::Gitlab,
            "gitlab/merge_request.update.1.json",
            |v| {
                v["changes"] =
                    serde_json::json!({"draft": {"previous": previous, "current": current}});
            },
        );
        assert_eq!(ev.kind, want);
    }
}

#[test]
fn github_comments_reviews_and_people() {
    let gh = |rel: &str| fixture_event(SourceKind::Github, rel);
    let rc = gh("github/pull_request_review_comment.created.1.json");
    let c = rc.comment.unwrap();
    assert_eq!(c.body, "Maybe you should use more emojji on this line.");
    assert_eq!(c.path, "README.md");
    assert_eq!(rc.body, c.body);
    let cc = gh("github/commit_comment.created.1.json");
    assert_eq!(
        cc.comment.unwrap().body,
        "This is a really good change! :+1:"
    );
    assert_eq!(
        cc.item.unwrap().url,
        "https://github.com/baxterthehacker/public-repo/commit/9049f1265b7d61be4a8904a9a27120d2064dab3b"
    );
    let dc = gh("github/discussion_comment.created.1.json");
    assert_eq!(dc.comment.unwrap().body, "some random comment");
    let d = gh("github/discussion.created.1.json");
    assert_eq!(d.item.as_ref().unwrap().category, "General");
    assert!(d.body.starts_with("Writing good commit messages"));

    let review = gh("github/pull_request_review.submitted.1.json");
    assert_eq!(review.review.unwrap().state, "approved");
    let changes = changed_fixture(
        SourceKind::Github,
        "github/pull_request_review.submitted.1.json",
        |v| v["review"]["state"] = "changes_requested".into(),
    );
    assert_eq!(changes.review.unwrap().state, "changes_requested");

    let assigned = gh("github/issues.assigned.1.json");
    assert_eq!(assigned.assignee.unwrap().name, "sbansal1999");
    assert_eq!(assigned.assignees.len(), 1);
    let requested = gh("github/pull_request.review_requested.1.json");
    assert_eq!(requested.requested_reviewer.unwrap().name, "showell");
    assert!(
        requested
            .requested_reviewers
            .iter()
            .any(|r| r.name == "showell")
    );
    let labeled = gh("github/issues.labeled.1.json");
    assert_eq!(labeled.label.as_deref(), Some("bug"));
    let member = gh("github/member.added.1.json");
    assert_eq!(member.member.unwrap().url, "https://github.com/octocat");
    let wiki = gh("github/gollum.1.json");
    assert_eq!(wiki.pages.len(), 2);
    assert_eq!(
        (wiki.pages[0].action.as_str(), wiki.pages[0].title.as_str()),
        ("created", "Home")
    );
}

#[test]
fn security_alerts() {
    let gh = |rel: &str| fixture_event(SourceKind::Github, rel);
    let dep = gh("github/dependabot_alert.created.1.json").alert.unwrap();
    assert_eq!(
        (
            dep.severity.as_str(),
            dep.package.as_str(),
            dep.fixed_in.as_str()
        ),
        ("medium", "semver", "7.5.2")
    );
    assert_eq!(
        dep.summary,
        "semver vulnerable to Regular Expression Denial of Service"
    );
    assert_eq!(
        dep.url,
        "https://github.com/wolfy1339/pika-pack/security/dependabot/20"
    );
    let code = gh("github/code_scanning_alert.created.1.json");
    assert_eq!(code.branch.as_deref(), Some("code-feature"));
    let code = code.alert.unwrap();
    assert_eq!(
        (code.tool.as_str(), code.severity.as_str()),
        ("CodeQL", "error")
    );
    assert_eq!(
        code.path,
        "src/main/java/com/github/demo/service/BookService.java"
    );
    let secret = gh("github/secret_scanning_alert.reopened.1.json")
        .alert
        .unwrap();
    assert_eq!(secret.summary, "adafruit_io_key");
    assert_eq!(
        secret.url,
        "https://github.com/Codertocat/Hello-World/security"
    );
    // A secret scanning alert that carries the secret: never on the event.
    let leaked = changed_fixture(
        SourceKind::Github,
        "github/secret_scanning_alert.reopened.1.json",
        |v| v["alert"]["secret"] = "ghp_do-not-show-this".into(),
    );
    let shown = serde_json::to_string(&leaked).unwrap();
    assert!(!shown.contains("ghp_do-not-show-this"), "{shown}");
    let old = gh("github/repository_vulnerability_alert.dismiss.1.json");
    let alert = old.alert.unwrap();
    assert_eq!(
        (alert.state.as_str(), alert.identifier.as_str()),
        ("dismissed", "CVE-2018-3728")
    );
    assert!(!old.actor.name.is_empty(), "the dismisser acted");
}

/// The flags templates use to post each action once (see `covered_by`).
#[test]
fn one_action_one_message_flags() {
    let gh = |rel: &str| fixture_event(SourceKind::Github, rel);
    // GitHub: create and delete also arrive as a push.
    assert_eq!(gh("github/create.1.json").covered_by, "push");
    assert_eq!(gh("github/delete.1.json").covered_by, "push");
    assert_eq!(gh("github/push.2.json").covered_by, "");
    // Gitea and Gogs send a deletion only as `delete`.
    assert_eq!(
        fixture_event(SourceKind::Gitea, "gitea/delete.1.json").covered_by,
        ""
    );
    assert_eq!(
        fixture_event(SourceKind::Gogs, "gogs/delete.1.json").covered_by,
        ""
    );
    assert_eq!(
        fixture_event(SourceKind::Gitea, "gitea/create.1.json").covered_by,
        "push"
    );
    // One release: `published` speaks for `created` and `released`.
    assert_eq!(gh("github/release.published.1.json").covered_by, "");
    for action in ["created", "released", "prereleased"] {
        let ev = changed_fixture(SourceKind::Github, "github/release.published.1.json", |v| {
            v["action"] = action.into()
        });
        assert_eq!(ev.covered_by, "release.published", "{action}");
    }
    // GitHub Actions' checks repeat its workflow runs and jobs.
    assert_eq!(
        gh("github/check_run.completed.1.json").covered_by,
        "workflow_job"
    );
    assert_eq!(gh("github/check_run.rerequested.1.json").covered_by, "");
    assert_eq!(gh("github/check_suite.completed.1.json").covered_by, "");
}

#[test]
fn unmodelled_github_events_still_name_their_item() {
    let h = headers(&[("x-github-event", "label")]);
    let body = br#"{"action":"created","label":{"name":"bug","html_url":"https://github.com/o/r/labels/bug"},
        "repository":{"full_name":"o/r","html_url":"https://github.com/o/r"},
        "sender":{"login":"ann","html_url":"https://github.com/ann"}}"#;
    let ev = receive_body(&unsigned(SourceKind::Github), &h, body).unwrap();
    assert_eq!(
        (ev.kind.as_str(), ev.action.as_str()),
        ("label.created", "created")
    );
    let item = ev.item.unwrap();
    assert_eq!((item.noun.as_str(), item.title.as_str()), ("label", "bug"));
    assert_eq!(ev.url, "https://github.com/o/r/labels/bug");
}

#[test]
fn hub_refs_in_words() {
    let src = unsigned(SourceKind::Huggingface);
    let h = HeaderMap::new();
    let ev = receive_body(&src, &h, &fixture("huggingface/repo.content.update.1.json")).unwrap();
    assert_eq!(ev.refs.len(), 1);
    let r = &ev.refs[0];
    assert_eq!(
        (r.name.as_str(), r.ref_type.as_str()),
        ("PR #5", "pull_request")
    );
    assert_eq!(
        r.url,
        "https://huggingface.co/spaces/Wauplin/gradio-user-history/discussions/5"
    );
    assert!(r.created);
    assert_eq!(ev.number, Some(5));
    assert_eq!(ev.url, r.url);
    assert_eq!(ev.item.unwrap().reference, "#5");
    let ev = receive_body(
        &src,
        &h,
        &fixture("huggingface/assembled/repo.content.update.1.json"),
    )
    .unwrap();
    let names: Vec<&str> = ev.refs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["main", "test"]);
    assert_eq!(ev.branch.as_deref(), Some("main"));
    assert_eq!(
        ev.refs[0].url,
        "https://huggingface.co/some-user/some-repo/tree/main"
    );
    // A Hub pull request names its target branch.
    let ev = receive_body(&src, &h, &fixture("huggingface/discussion.create.1.json")).unwrap();
    let pr = ev.pull_request.unwrap();
    assert_eq!((pr.base.as_str(), pr.head.as_str()), ("main", "refs/pr/19"));
    assert_eq!(ev.item.unwrap().noun, "pull request");
}

/// What the shipped templates say for the fixtures, in plain words: the
/// facts above, read by a person. No message shows a raw dotted kind.
#[test]
fn fixtures_read_in_plain_words() {
    let r = crate::render::Renderer::load(std::path::Path::new("/nonexistent/templates"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let plain = |kind: SourceKind, rel: &str| {
        let ev = fixture_event(kind, rel);
        (
            crate::render::plain_text(&r.render(crate::render::Platform::Plain, "default", &ev)),
            ev,
        )
    };
    for (rel, words) in [
        ("gitlab/note.2.json", "commented on commit 82689dd"),
        (
            "gitlab/note.3.json",
            "commented on snippet $2547713 a very new new feature",
        ),
        ("gitlab/note.4.json", "commented on design Screenshot.png"),
        (
            "gitlab/merge_request.approved.1.json",
            "Eeshan Garg approved merge request !1",
        ),
        (
            "gitlab/merge_request.approval.1.json",
            "added their approval to merge request !1",
        ),
        (
            "gitlab/build.failed.1.json",
            "Job build-job of pipeline #2466073078 failed on master",
        ),
        (
            "gitlab/deployment.failed.1.json",
            "Deployment of master to production failed",
        ),
        (
            "gitlab/feature_flag.1.json",
            "Varun Kolanu turned off feature flag sample-feature-flag",
        ),
        (
            "gitlab/emoji.award.1.json",
            "reacted (:thumbsup:) to merge request !1",
        ),
        (
            "gitlab/push.1.json",
            "Tomasz Kolek pushed 2 commits to tomek",
        ),
        (
            "gitlab/build.success.1.json",
            "Job deploy-job of pipeline #2257910668 passed on master",
        ),
        (
            "gitlab/deployment.success.1.json",
            "Deployment of master to production succeeded",
        ),
        (
            "github/workflow_run.completed.1.json",
            "Workflow test #163 passed on master for pull request #2",
        ),
        (
            "github/check_run.rerequested.1.json",
            "Check randscape passed on master",
        ),
        ("gitlab/note.1.json", "commented on issue #1 Add more lines"),
        (
            "gitlab/merge_request.merge.1.json",
            "Tomasz Kolek merged merge request !3",
        ),
        ("gitlab/tag_push.1.json", "Tomasz Kolek deleted tag xyz"),
        (
            "gitlab/release.create.1.json",
            "Release v1.1 was published in",
        ),
        (
            "gitlab/release.update.1.json",
            "Release v1.1 was updated in",
        ),
        (
            "github/issues.assigned.1.json",
            "sbansal1999 assigned sbansal1999 to issue #7",
        ),
        (
            "github/push.3.json",
            "sbansal1999 force-pushed 1 commit to temp",
        ),
        (
            "github/check_suite.completed.1.json",
            "Checks by octocoders-linter passed on changes for pull request #2",
        ),
        ("github/workflow_job.completed.1.json", "Job linters failed"),
        ("github/status.1.json", "default passed for commit 9049f12"),
        (
            "github/deployment_status.1.json",
            "Deployment of master to production succeeded",
        ),
        ("github/gollum.1.json", "jasonrudolph changed 2 wiki pages"),
        (
            "github/star.created.1.json",
            "Codertocat starred Codertocat/Hello-World",
        ),
        (
            "github/watch.started.1.json",
            "baxterthehacker starred baxterthehacker/public-repo",
        ),
        (
            "github/public.1.json",
            "baxterthehacker made baxterthehacker/public-repo public",
        ),
        (
            "github/member.added.1.json",
            "baxterthehacker added octocat to baxterthehacker/public-repo",
        ),
        (
            "github/commit_comment.created.1.json",
            "This is a really good change!",
        ),
        (
            "github/pull_request_review_comment.created.1.json",
            "Maybe you should use more emojji",
        ),
        (
            "github/discussion_comment.created.1.json",
            "commented on discussion #20 Lets discuss",
        ),
        ("github/discussion.created.1.json", "started discussion #3"),
        (
            "github/dependabot_alert.created.1.json",
            "New Dependabot alert #20",
        ),
        (
            "github/code_scanning_alert.created.1.json",
            "Found by: CodeQL",
        ),
        ("github/push.2.json", "deleted branch feature"),
    ] {
        let kind = if rel.starts_with("gitlab/") {
            SourceKind::Gitlab
        } else {
            SourceKind::Github
        };
        let (text, _) = plain(kind, rel);
        assert!(text.contains(words), "{rel}: {words:?} not in\n{text}");
    }
    // One action, one message; unfinished runs wait for their result.
    for rel in [
        "github/create.1.json",
        "github/delete.1.json",
        "github/check_run.completed.1.json",
        "github/deployment.1.json",
        "github/workflow_run.in_progress.1.json",
        "gitlab/pipeline.running.1.json",
        "gitlab/pipeline.pending.1.json",
    ] {
        let kind = if rel.starts_with("gitlab/") {
            SourceKind::Gitlab
        } else {
            SourceKind::Github
        };
        let ev = fixture_event(kind, rel);
        let card = r.render(crate::render::Platform::Plain, "default", &ev);
        assert!(
            card.is_empty(),
            "{rel} ({}) should send nothing: {card:?}",
            ev.kind
        );
    }
    // Each CI conclusion in its words and colour.
    for (conclusion, words, color) in [
        ("success", "passed", "#1f883d"),
        ("failure", "failed", "#cf222e"),
        ("cancelled", "was cancelled", "#6e7781"),
        ("skipped", "was skipped", "#6e7781"),
        ("timed_out", "timed out", "#cf222e"),
        ("action_required", "needs action", "#bf8700"),
    ] {
        let mut ev = fixture_event(SourceKind::Github, "github/workflow_run.completed.1.json");
        if let Some(ci) = ev.ci.as_mut() {
            ci.set_github("completed", conclusion);
        }
        let card = r.render(crate::render::Platform::Plain, "default", &ev);
        assert!(
            card.text
                .contains(&format!("Workflow test #163 {words} on master")),
            "{conclusion}: {}",
            card.text
        );
        assert_eq!(card.color, color, "{conclusion}");
    }
    let test = {
        let body: Value = serde_json::from_slice(&fixture("gitlab/issue.open.1.json")).unwrap();
        gitlab_body("Test Hook", &body)
    };
    let text =
        crate::render::plain_text(&r.render(crate::render::Platform::Plain, "default", &test));
    assert!(
        text.contains("Webhook for ") && text.contains(" is set up"),
        "{text}"
    );
    for (stem, kind) in FIXTURE_KINDS {
        if kind.contains('.') || *kind == "gollum" {
            let source = if stem.starts_with("gitlab/") {
                SourceKind::Gitlab
            } else {
                SourceKind::Github
            };
            let (text, _) = plain(source, &format!("{stem}.json"));
            assert!(!text.contains(kind), "{stem}: raw {kind} in\n{text}");
        }
    }
}

/// Gitea and Gogs say who was assigned only in the issue itself; the
/// message names them as GitHub's does.
#[test]
fn gitea_names_who_was_assigned() {
    let ev = fixture_event(SourceKind::Gitea, "gitea/issue_assign.assigned.1.json");
    assert_eq!(
        ev.assignee.as_ref().map(|a| a.login.as_str()),
        Some("example")
    );
    let r = crate::render::Renderer::load(std::path::Path::new("/nonexistent/templates"))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let text = crate::render::plain_text(&r.render(crate::render::Platform::Plain, "default", &ev));
    assert!(text.contains("assigned example to issue #"), "{text}");
}

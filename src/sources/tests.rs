use std::path::PathBuf;

use poem::http::{HeaderMap, HeaderName, HeaderValue};

use super::*;
use crate::config::{Secret, SourceConfig, SourceKind};

fn fixture(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
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

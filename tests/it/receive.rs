//! The front door over real HTTP: every fixture verified and named right,
//! every refusal with its status.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use hookbridge::outbox::{
    Accepted, DeliveryMeta, Lane, NewMessage, Row, RowId, Status, Store, StoreError,
};
use proptest::prelude::*;
use serde_json::Value;

use crate::common::*;

const SECRET: &str = "s3cret-for-tests";

/// One source of every kind, no routes: a verified delivery answers 200
/// and names its kind.
fn config(max_body: usize) -> String {
    let mut t =
        format!("[server]\nmax_body_bytes = {max_body}\n[store]\npath = \"{{dir}}/hb.db\"\n");
    for kind in [
        "github",
        "gitea",
        "forgejo",
        "gogs",
        "dagshub",
        "gitlab",
        "huggingface",
    ] {
        t.push_str(&format!(
            "[sources.{kind}]\nkind = \"{kind}\"\nsecret = \"{SECRET}\"\n"
        ));
    }
    t.push_str("[sources.open]\nkind = \"github\"\nallow_unsigned = true\n");
    t
}

/// The kind a fixture must parse to, from its file name: GitHub's names,
/// with the forges' own names mapped, and merges told apart.
fn expected_kind(rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap().trim_end_matches(".json");
    // drop the trailing `.n`
    let stem = &name[..name.rfind('.').unwrap()];
    let mapped = match stem {
        "issue_assign.assigned" => "issues.assigned",
        "issue_label.label_updated" => "issues.label_updated",
        "issue_milestone.milestoned" => "issues.milestoned",
        "pull_request_assign.assigned" => "pull_request.assigned",
        "pull_request_label.label_updated" => "pull_request.label_updated",
        "pull_request_milestone.milestoned" => "pull_request.milestoned",
        "pull_request_comment.created" => "issue_comment.created",
        "pull_request.synchronized" => "pull_request.synchronize",
        "pull_request_review.reviewed" => "pull_request_review.submitted",
        other => other,
    };
    if mapped == "pull_request.closed" {
        let v: Value = serde_json::from_slice(&fixture(rel)).unwrap();
        if v["pull_request"]["merged"].as_bool() == Some(true) {
            return "pull_request.merged".into();
        }
    }
    mapped.to_string()
}

async fn assert_all_accepted(
    svc: &Service,
    source: &str,
    kind: &str,
    dir: &str,
    rewrite: fn(&str) -> String,
) {
    let files = fixture_files(dir);
    assert!(!files.is_empty(), "no fixtures in {dir}");
    for rel in files {
        let body = fixture(&rel);
        let mut headers: Vec<(String, String)> = fixture_headers(&rel)
            .into_iter()
            .map(|(k, v)| (rewrite(&k), v))
            .collect();
        headers.extend(signature_headers(kind, SECRET, &body));
        let a = svc.post(source, &headers, body.clone()).await;
        let want = expected_kind(&rel);
        if want == "ping" {
            assert_eq!(a.status, 200, "{rel}: {}", a.body);
            assert!(a.body.contains("pong"), "{rel}: {}", a.body);
            continue;
        }
        assert_eq!(a.status, 200, "{source} {rel}: {}", a.body);
        assert!(
            a.body.contains(&format!("`{want}`")),
            "{source} {rel}: want {want}, got {}",
            a.body
        );

        // The same bytes under another secret are refused.
        let mut wrong: Vec<(String, String)> = fixture_headers(&rel)
            .into_iter()
            .map(|(k, v)| (rewrite(&k), v))
            .collect();
        wrong.extend(signature_headers(kind, "not-the-secret", &body));
        let a = svc.post(source, &wrong, body).await;
        assert_eq!(
            a.status, 401,
            "{source} {rel} with a wrong secret: {}",
            a.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_signed_right_is_accepted_and_wrong_refused() {
    let svc = Service::start(&config(25 << 20)).await;
    let same = |k: &str| k.to_string();
    assert_all_accepted(&svc, "github", "github", "github", same).await;
    assert_all_accepted(&svc, "gitea", "gitea", "gitea", same).await;
    assert_all_accepted(&svc, "gogs", "gogs", "gogs", same).await;
    // DagsHub is Gogs-shaped: the Gogs payloads with X-DagsHub-* headers.
    assert_all_accepted(&svc, "dagshub", "dagshub", "gogs", |k| {
        k.replace("X-Gogs-", "X-DagsHub-")
    })
    .await;
    // Forgejo sends X-Forgejo-* (and Gitea copies).
    assert_all_accepted(&svc, "forgejo", "forgejo", "gitea", |k| {
        k.replace("X-Gitea-", "X-Forgejo-")
    })
    .await;
    assert_all_accepted(&svc, "huggingface", "huggingface", "huggingface", same).await;
    assert_all_accepted(
        &svc,
        "huggingface",
        "huggingface",
        "huggingface/assembled",
        same,
    )
    .await;
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huggingface_v2_payloads_get_a_clear_400() {
    let svc = Service::start(&config(25 << 20)).await;
    for rel in fixture_files("huggingface-v2") {
        let a = svc
            .post_fixture("huggingface", "huggingface", SECRET, &rel)
            .await;
        assert_eq!(a.status, 400, "{rel}: {}", a.body);
        assert!(a.body.contains("version 2"), "{}", a.body);
    }
    // the Hub's secret may come in the URL instead of the header
    let body = fixture("huggingface/discussion.create.1.json");
    let url = format!("{}/hooks/huggingface?secret={SECRET}", svc.base);
    let r = svc
        .client
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let url = format!("{}/hooks/huggingface?secret=nope", svc.base);
    let r = svc.client.post(&url).body(body).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_token() {
    let svc = Service::start(&config(25 << 20)).await;
    let body = br#"{"object_kind":"push","ref":"refs/heads/main","user_username":"ann","project":{"path_with_namespace":"grp/app","web_url":"https://gitlab.example/grp/app"},"commits":[],"total_commits_count":0}"#.to_vec();
    let mut h = vec![
        ("X-Gitlab-Event".to_string(), "Push Hook".to_string()),
        ("Content-Type".into(), "application/json".into()),
    ];
    h.extend(signature_headers("gitlab", SECRET, &body));
    let a = svc.post("gitlab", &h, body.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("`push`"));
    let h = vec![("X-Gitlab-Token".to_string(), "wrong".to_string())];
    assert_eq!(svc.post("gitlab", &h, body.clone()).await.status, 401);
    assert_eq!(svc.post("gitlab", &[], body).await.status, 401);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_vectors_from_others_verify() {
    let vectors: Vec<Value> = serde_json::from_slice(&fixture("signature-vectors.json")).unwrap();
    assert!(vectors.len() >= 30);
    for v in vectors {
        let secret = v["secret"].as_str().unwrap();
        let header = v["header"].as_str().unwrap();
        let value = v["value"].as_str().unwrap();
        let (kind, body, mut headers) = match v["file"].as_str() {
            Some(rel) => {
                let kind = rel.split('/').next().unwrap().to_string();
                (kind, fixture(rel), fixture_headers(rel))
            }
            None => (
                "github".to_string(),
                v["body_utf8"].as_str().unwrap().as_bytes().to_vec(),
                vec![("X-GitHub-Event".to_string(), "ping".to_string())],
            ),
        };
        let toml = format!(
            "[store]\npath = \"{{dir}}/hb.db\"\n[sources.s]\nkind = \"{kind}\"\nsecret = \"{}\"\n",
            secret.replace('\\', "\\\\").replace('"', "\\\"")
        );
        let svc = Service::start(&toml).await;
        headers.push((header.to_string(), value.to_string()));
        let a = svc.post("s", &headers, body.clone()).await;
        // GitHub's documented vector signs "Hello, World!": verified, then
        // refused as not JSON. Everything else is a real payload.
        let want = if v["file"].is_null() { 400 } else { 200 };
        assert_eq!(a.status, want, "{header} over {:?}: {}", v["file"], a.body);
        // one flipped hex digit is refused
        let mut bad = value.to_string();
        let last = bad.pop().unwrap();
        bad.push(if last == '0' { '1' } else { '0' });
        let mut h2: Vec<_> = headers[..headers.len() - 1].to_vec();
        h2.push((header.to_string(), bad));
        assert_eq!(
            svc.post("s", &h2, body).await.status,
            401,
            "{header} flipped"
        );
        svc.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_malformed_and_sha1_signatures() {
    let svc = Service::start(&config(25 << 20)).await;
    let rel = "github/push.1.json";
    let body = fixture(rel);
    let base = fixture_headers(rel);
    let with = |extra: &[(&str, String)]| {
        let mut h = base.clone();
        h.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        h
    };
    let hex = hookbridge::sources::signature::sign_sha256_hex(SECRET, &body);
    for (what, h) in [
        ("missing", with(&[])),
        ("no prefix", with(&[("X-Hub-Signature-256", hex.clone())])),
        (
            "wrong prefix",
            with(&[("X-Hub-Signature-256", format!("sha1={hex}"))]),
        ),
        (
            "not hex",
            with(&[("X-Hub-Signature-256", "sha256=zzzz".into())]),
        ),
        (
            "truncated",
            with(&[("X-Hub-Signature-256", format!("sha256={}", &hex[..20]))]),
        ),
        ("empty", with(&[("X-Hub-Signature-256", String::new())])),
    ] {
        let a = svc.post("github", &h, body.clone()).await;
        assert_eq!(a.status, 401, "{what}: {}", a.body);
    }
    // sha1 is used only when sha256 is absent
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let sha1 = hex::encode(mac.finalize().into_bytes());
    let a = svc
        .post(
            "github",
            &with(&[("X-Hub-Signature", format!("sha1={sha1}"))]),
            body.clone(),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // an unsigned source takes anything well-formed
    assert_eq!(svc.post("open", &base, body).await.status, 200);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests() {
    let svc = Service::start(&config(4096)).await;
    let gh = |body: &[u8], ct: &str| {
        let mut h = vec![
            ("X-GitHub-Event".to_string(), "push".to_string()),
            ("Content-Type".to_string(), ct.to_string()),
        ];
        h.extend(signature_headers("github", SECRET, body));
        h
    };
    // invalid JSON with a valid signature
    let a = svc
        .post(
            "github",
            &gh(b"{not json", "application/json"),
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("JSON"), "{}", a.body);
    // JSON that is not an object
    assert_eq!(
        svc.post("github", &gh(b"[1]", "application/json"), b"[1]".to_vec())
            .await
            .status,
        400
    );
    // a content type GitHub does not send
    let a = svc
        .post("github", &gh(b"{}", "text/plain"), b"{}".to_vec())
        .await;
    assert_eq!(a.status, 415, "{}", a.body);
    // form body without payload=
    let a = svc
        .post(
            "github",
            &gh(b"x=1", "application/x-www-form-urlencoded"),
            b"x=1".to_vec(),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.body);
    // unknown source
    let a = svc.post("nope", &[], b"{}".to_vec()).await;
    assert_eq!(a.status, 404);
    assert!(a.body.contains("nope"));
    // wrong method
    let r = svc
        .client
        .get(format!("{}/hooks/github", svc.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    // oversize with an honest Content-Length
    let big = vec![b' '; 5000];
    let a = svc
        .post("github", &gh(&big, "application/json"), big.clone())
        .await;
    assert_eq!(a.status, 413, "{}", a.body);
    svc.stop().await;
}

/// Raw HTTP/1.1 over a socket, for requests a client library would not send.
fn raw_request(base: &str, head: &str, body: &[u8]) -> String {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(head.as_bytes()).unwrap();
    // the server may answer and close before reading everything
    let _ = s.write_all(body);
    // every raw request says `Connection: close`: the answer ends at EOF
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_is_counted_while_reading() {
    let svc = Service::start(&config(4096)).await;
    let base = svc.base.clone();
    tokio::task::spawn_blocking(move || {
        // chunked, no Content-Length: 8 KiB in 1 KiB chunks
        let mut body = Vec::new();
        for _ in 0..8 {
            body.extend_from_slice(b"400\r\n");
            body.extend_from_slice(&[b' '; 1024]);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
        let head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let r = raw_request(&base, head, &body);
        assert!(r.starts_with("HTTP/1.1 413"), "chunked: {r}");

        // Content-Length claims more than the limit
        let head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Length: 999999\r\nConnection: close\r\n\r\n";
        let r = raw_request(&base, head, b"{}");
        assert!(r.starts_with("HTTP/1.1 413"), "claimed: {r}");

        // Content-Length claims more than is sent before the client stops
        // writing: a clear 400, not a wait and not a parse of half a body.
        let addr = base.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n";
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(b"{\"ref\": 1").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let r = String::from_utf8_lossy(&out);
        assert!(r.starts_with("HTTP/1.1 400"), "short body: {r}");
        assert!(r.contains("could not read the body"), "short body: {r}");
    })
    .await
    .unwrap();
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_never_break_the_handler() {
    let svc = Service::start(&config(65536)).await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let header_names = prop::sample::select(vec![
        "X-GitHub-Event",
        "X-Hub-Signature-256",
        "X-Hub-Signature",
        "X-Gitea-Event",
        "X-Gitea-Signature",
        "X-Gogs-Event",
        "X-Gitlab-Token",
        "X-Webhook-Secret",
        "Content-Type",
        "X-Forgejo-Event",
        "X-DagsHub-Signature",
    ]);
    let strategy = (
        prop::sample::select(vec![
            "github",
            "gitea",
            "forgejo",
            "gogs",
            "dagshub",
            "gitlab",
            "huggingface",
            "open",
        ]),
        prop::collection::vec((header_names, "[ -~]{0,40}"), 0..6),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            "\\{\"action\":\"[a-z]{0,8}\",\"repository\":\\{\"full_name\":\"[ -~]{0,20}\"\\}\\}"
                .prop_map(String::into_bytes),
        ],
    );
    use proptest::strategy::ValueTree;
    for _ in 0..64 {
        let (source, headers, body) = strategy.new_tree(&mut runner).unwrap().current();
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        let a = svc.post(source, &headers, body).await;
        assert!(
            [200, 400, 401, 415].contains(&a.status),
            "{source} {headers:?}: {} {}",
            a.status,
            a.body
        );
    }
    // still alive and correct afterwards
    let a = svc
        .post_fixture("github", "github", SECRET, "github/push.1.json")
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    svc.stop().await;
}

/// A chunked upload of `sent` bytes that is never finished: its socket's
/// read half, and the task writing it (which keeps the write half open).
async fn unfinished_upload(
    addr: &str,
    sent: usize,
) -> (
    tokio::net::tcp::OwnedReadHalf,
    tokio::task::JoinHandle<tokio::net::tcp::OwnedWriteHalf>,
) {
    use tokio::io::AsyncWriteExt;
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        let head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        let _ = wr.write_all(head.as_bytes()).await;
        let mut chunk = b"400\r\n".to_vec();
        chunk.extend_from_slice(&[b' '; 1024]);
        chunk.extend_from_slice(b"\r\n");
        for _ in 0..sent / 1024 {
            // refused uploads are not read to the end: ignore write errors
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        wr
    });
    (rd, writer)
}

/// Reads an answer from a read half until the server closes, at most 10 s.
async fn answer_on(rd: &mut tokio::net::tcp::OwnedReadHalf) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), rd.read_to_end(&mut out))
        .await
        .expect("no answer within 10s")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_in_flight_are_bounded() {
    // a 1 MiB budget, so 128 KiB for one request, and bodies of up to 4 MiB
    let toml =
        "[server]\nmax_body_bytes = 4194304\n[sources.github]\nkind = \"github\"\nsecret = \"k\"\n";
    let store = Arc::new(CountingStore {
        writable: true,
        checks: AtomicUsize::new(0),
    });
    let served = Served::start(toml, store, |s| {
        s.with_body_budget(1 << 20)
            .with_body_read_timeout(std::time::Duration::from_secs(2))
    })
    .await;
    // One sender cannot hold it all: past its share, an upload is turned
    // away instead of growing.
    let (mut rd, writer) = unfinished_upload(&served.addr, 200 << 10).await;
    let r = answer_on(&mut rd).await;
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    assert!(r.contains("hold in memory"), "{r}");
    drop(writer);
    // Ten uploads that each hold close to their share (120 KiB sent)
    // outgrow the budget: the last to grow are turned away mid-read
    // instead of growing memory; the others hold until the deadline.
    let mut uploads = Vec::new();
    for _ in 0..10 {
        uploads.push(unfinished_upload(&served.addr, 120 << 10).await);
    }
    let mut answers = Vec::new();
    for (mut rd, writer) in uploads {
        answers.push(answer_on(&mut rd).await);
        drop(writer);
    }
    let busy = answers
        .iter()
        .filter(|r| r.starts_with("HTTP/1.1 503"))
        .count();
    assert!(busy >= 1, "{answers:#?}");
    for r in &answers {
        assert!(
            (r.starts_with("HTTP/1.1 503") && r.contains("in flight"))
                || r.starts_with("HTTP/1.1 408"),
            "{r}"
        );
    }
    // Once answered, their shares are back: a body of a full share is read
    // whole and verified (and refused: it is unsigned).
    let body = vec![b' '; 127 << 10];
    let r = reqwest::Client::new()
        .post(format!("http://{}/hooks/github", served.addr))
        .header("X-GitHub-Event", "push")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408_after_the_deadline() {
    let toml = "[sources.github]\nkind = \"github\"\nsecret = \"k\"\n";
    let store = Arc::new(CountingStore {
        writable: true,
        checks: AtomicUsize::new(0),
    });
    let served = Served::start(toml, store, |s| {
        s.with_body_read_timeout(std::time::Duration::from_millis(300))
    })
    .await;
    let (mut s, answer) = stalled_upload(&served.addr, 25 << 20).await;
    assert!(answer.starts_with("HTTP/1.1 100"), "{answer}");
    // the answer comes without anything more being sent
    let r = read_rest(&mut s).await;
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");
    assert!(r.contains("body not received within 300ms"), "{r}");
    served.stop().await;
}

/// `config` plus a stdout sink every delivery is routed to, so a verified
/// delivery is stored and answered 202.
fn routed_config(max_body: usize) -> String {
    config(max_body) + "[sinks.c]\nkind = \"stdout\"\n[[routes]]\nto = [\"c\"]\n"
}

/// Reads an HTTP head (up to the blank line) from `s`, at most 10 s.
async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    let read = async {
        while !out.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte).await {
                Ok(1) => out.push(byte[0]),
                _ => break,
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .expect("no answer within 10s");
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads whatever the server sends until it closes, at most 10 s.
async fn read_rest(s: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the server neither answered nor closed within 10s")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

/// An upload that declares `declared` bytes with `Expect: 100-continue`,
/// waits for the handler to start reading (the server's `100 Continue`),
/// sends 10 bytes, and then stalls. Returns the socket and the first
/// answer's head: `100 Continue`, or a refusal.
async fn stalled_upload(addr: &str, declared: usize) -> (tokio::net::TcpStream, String) {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\nExpect: 100-continue\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let answer = read_head(&mut s).await;
    if answer.starts_with("HTTP/1.1 100") {
        s.write_all(b"{\"ref\": \"r").await.unwrap();
    }
    (s, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_do_not_starve_real_deliveries() {
    let svc = Service::start(&routed_config(25 << 20)).await;
    let addr = svc.base.trim_start_matches("http://").to_string();
    // What an attacker declares, largest first, so that a budget reserved
    // from Content-Length up front (256 MiB in KiB units, Content-Length / 1024
    // + 1 each) is used up to the last KiB: 10 x 25 MiB, then 5 x 1 MiB,
    // 30 x 32 KiB and 19 x 1000 bytes; one more of each size to be sure.
    let mut declared = vec![25 << 20; 11];
    declared.extend([1 << 20; 6]);
    declared.extend([32 << 10; 31]);
    declared.extend([1000; 20]);
    let mut stalled = Vec::new();
    for n in declared {
        stalled.push(stalled_upload(&addr, n).await);
    }
    // Each holds about what it sent, so a real delivery still gets in.
    let (h, body) = numbered_issue(SECRET, 1);
    let a = svc.post("github", &h, body).await;
    assert_eq!(a.status, 202, "{}", a.body);
    for (_, answer) in &stalled {
        assert!(answer.starts_with("HTTP/1.1 100"), "{answer}");
    }
    drop(stalled);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_cap_above_the_budget_still_takes_deliveries() {
    // Legal, and larger than the 256 MiB held for all bodies in flight.
    let svc = Service::start(&routed_config(512 << 20)).await;
    let base = svc.base.clone();
    tokio::task::spawn_blocking(move || {
        // chunked: no Content-Length to size a reservation from
        let (h, body) = numbered_issue(SECRET, 2);
        let mut head = String::from("POST /hooks/github HTTP/1.1\r\nHost: x\r\n");
        for (k, v) in h {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
        chunked.extend_from_slice(&body);
        chunked.extend_from_slice(b"\r\n0\r\n\r\n");
        let r = raw_request(&base, &head, &chunked);
        assert!(r.starts_with("HTTP/1.1 202"), "{r}");
    })
    .await
    .unwrap();
    svc.stop().await;
}

/// A store that takes nothing and counts its write checks; they fail when
/// `writable` is false.
struct CountingStore {
    writable: bool,
    checks: AtomicUsize,
}

#[async_trait]
impl Store for CountingStore {
    async fn accept(&self, _: DeliveryMeta, _: Vec<NewMessage>) -> Result<Accepted, StoreError> {
        Err(disk_full())
    }
    async fn head(&self, _: &Lane) -> Result<Option<Row>, StoreError> {
        Ok(None)
    }
    async fn mark_sent(&self, _: RowId) -> Result<(), StoreError> {
        Ok(())
    }
    async fn mark_retry(&self, _: RowId, _: i64, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn mark_dead(&self, _: RowId, _: &str) -> Result<(), StoreError> {
        Ok(())
    }
    async fn pending_lanes(&self) -> Result<Vec<Lane>, StoreError> {
        Ok(vec![])
    }
    async fn list(&self, _: Option<Status>, _: usize) -> Result<Vec<Row>, StoreError> {
        Ok(vec![])
    }
    async fn replay(&self, _: &[RowId]) -> Result<usize, StoreError> {
        Ok(0)
    }
    async fn replay_dead(&self) -> Result<usize, StoreError> {
        Ok(0)
    }
    async fn depth_by_sink(&self) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(vec![])
    }
    async fn check_writable(&self) -> Result<(), StoreError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        if self.writable {
            Ok(())
        } else {
            Err(StoreError::Busy("queue full".into()))
        }
    }
}

/// `n` concurrent `GET /healthz`: their statuses and bodies.
async fn healthz_flood(addr: &str, n: usize) -> Vec<(u16, String)> {
    let client = reqwest::Client::new();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (client, url) = (client.clone(), format!("http://{addr}/healthz"));
        set.spawn(async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        });
    }
    set.join_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthz_flood_checks_the_store_about_once_a_second() {
    let toml = "[sources.github]\nkind = \"github\"\nsecret = \"k\"\n";
    for writable in [true, false] {
        let store = Arc::new(CountingStore {
            writable,
            checks: AtomicUsize::new(0),
        });
        let started = std::time::Instant::now();
        let served = Served::start(toml, store.clone(), |s| s).await;
        let want = if writable {
            (200, "ok\n")
        } else {
            (503, "store is not writable\n")
        };
        // two floods, one after the other
        for _ in 0..2 {
            for (status, body) in healthz_flood(&served.addr, 200).await {
                assert_eq!((status, body.as_str()), want);
            }
        }
        // A burst of 3 checks may run back to back (so that a lone probe
        // sees the store as it is now), then one a second: on a slow
        // machine, one more for every second the floods took.
        let checks = store.checks.load(Ordering::SeqCst);
        let most = 3 + started.elapsed().as_secs() as usize + 1;
        assert!(
            (1..=most).contains(&checks),
            "{checks} store write checks for 400 health checks (at most {most})"
        );
        served.stop().await;
    }
}

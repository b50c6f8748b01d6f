//! Threads and living messages over real HTTP: a pull request's life
//! (opened, pushed to, reviewed, CI failed then passed, merged) posted by
//! a service to the loopback stand-in on Slack (bot token), Discord (bot
//! token) and a Discord forum webhook: one parent that ends "merged" with a
//! green CI field, every other event a reply in its thread, in order; the
//! same across a `kill -9` and a restart; and a deleted parent replaced by
//! a new one.

use serde_json::{Value, json};

use crate::common::{Proc, Service, eventually, fixture, fixture_headers, signature_headers};
use crate::standin::{Message, StandIn};

const SECRET: &str = "thread-secret";

/// One signed delivery: headers, body, and what it is (for messages).
type Step = (Vec<(String, String)>, Vec<u8>, &'static str);

/// The fixtures of one pull request's life, made to name one pull request
/// (#1 of baxterthehacker/public-repo), signed: (headers, body, marker).
fn pr_life() -> Vec<Step> {
    let opened: Value =
        serde_json::from_slice(&fixture("github/pull_request.opened.1.json")).unwrap();
    let repo = opened["repository"].clone();
    let pr_ref = json!({"number": 1, "id": 1, "url": opened["pull_request"]["url"],
        "head": {"ref": "changes", "sha": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c", "repo": {"id": 1, "url": "", "name": "public-repo"}},
        "base": {"ref": "master", "sha": "9049f1265b7d61be4a8904a9a27120d2064dab3b", "repo": {"id": 1, "url": "", "name": "public-repo"}}});
    let ci = |rel: &str, run: &str| {
        let mut v: Value = serde_json::from_slice(&fixture(rel)).unwrap();
        v["repository"] = repo.clone();
        v[run]["pull_requests"] = json!([pr_ref.clone()]);
        // A checks app other than GitHub Actions (whose check runs and
        // suites the workflow run and job events speak for).
        v[run]["app"]["slug"] = json!("acme-ci");
        v[run]["app"]["name"] = json!("Acme CI");
        serde_json::to_vec(&v).unwrap()
    };
    let steps: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "github/pull_request.opened.1.json",
            fixture("github/pull_request.opened.1.json"),
            "opened",
        ),
        (
            "github/pull_request.synchronize.1.json",
            fixture("github/pull_request.synchronize.1.json"),
            "synchronize",
        ),
        (
            "github/pull_request_review.submitted.1.json",
            fixture("github/pull_request_review.submitted.1.json"),
            "review",
        ),
        (
            "github/check_run.completed.1.json",
            ci("github/check_run.completed.1.json", "check_run"),
            "ci failed",
        ),
        (
            "github/check_suite.completed.1.json",
            ci("github/check_suite.completed.1.json", "check_suite"),
            "ci passed",
        ),
        (
            "github/pull_request.closed.2.json",
            fixture("github/pull_request.closed.2.json"),
            "merged",
        ),
    ];
    steps
        .into_iter()
        .map(|(rel, body, marker)| {
            let mut headers = fixture_headers(rel);
            headers.extend(signature_headers("github", SECRET, &body));
            (headers, body, marker)
        })
        .collect()
}

fn config(sinks: &str) -> String {
    format!(
        r#"
[store]
path = "{{dir}}/hb.db"

[delivery]
timeout = "2s"
min_interval = "0s"

[sources.github]
kind = "github"
secret = "{SECRET}"

{sinks}
"#
    )
}

fn slack_sink(standin: &StandIn) -> String {
    format!(
        r##"[sinks.team]
kind = "slack"
token = "xoxb-thread-test-token"
api_base = "{}"

[[routes]]
to = ["team:#eng"]
thread = true
broadcast = true
"##,
        standin.slack_api_base()
    )
}

fn discord_bot_sink(standin: &StandIn) -> String {
    format!(
        r##"[sinks.team]
kind = "discord"
token = "discord-bot-test-token"
api_base = "{}"

[[routes]]
to = ["team:123456789012345678"]
thread = true
broadcast = true
"##,
        standin.discord_api_base()
    )
}

fn forum_sink(standin: &StandIn) -> String {
    format!(
        r##"[sinks.team]
kind = "discord"
webhook_url = "{}"
api_base = "{}"
forum = true

[[routes]]
to = ["team"]
thread = true
"##,
        standin.discord_webhook_url(42, "forum-hook-token"),
        standin.discord_api_base()
    )
}

/// Waits until nothing is pending in the service's store.
async fn drained(svc: &Service) {
    let store = svc.store();
    eventually(20, "every queued message sent", || {
        let store = store.clone();
        async move { store.pending_lanes().await.unwrap().is_empty() }
    })
    .await;
}

/// The parent (top-level, not a broadcast line) and the replies of the
/// stand-in's messages.
fn parent_and_replies(messages: &[Message], parent_channel: &str) -> (Message, Vec<Message>) {
    let parents: Vec<&Message> = messages
        .iter()
        .filter(|m| {
            m.thread.is_none() && m.channel == parent_channel
                || m.thread.as_deref() == Some(m.id.as_str())
        })
        .filter(|m| {
            !m.body["content"]
                .as_str()
                .unwrap_or_default()
                .contains("<#")
        })
        .collect();
    assert_eq!(parents.len(), 1, "one parent: {messages:#?}");
    let parent = parents[0].clone();
    let replies = messages
        .iter()
        .filter(|m| m.id != parent.id && m.thread.is_some())
        .cloned()
        .collect();
    (parent, replies)
}

async fn post_all(svc: &Service, steps: &[Step]) {
    for (headers, body, marker) in steps {
        let a = svc.post("github", headers, body.clone()).await;
        assert_eq!(a.status, 202, "{marker}: {}", a.body);
        // in order: each event's messages are sent before the next arrives
        drained(svc).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_lives_in_one_slack_thread_under_a_parent_that_ends_merged_and_green() {
    let standin = StandIn::start().await;
    let svc = Service::start(&config(&slack_sink(&standin))).await;
    post_all(&svc, &pr_life()).await;

    let messages = standin.messages();
    let (parent, replies) = parent_and_replies(&messages, "CENG");
    assert_eq!(replies.len(), 5, "five replies: {messages:#?}");
    for r in &replies {
        assert_eq!(r.thread.as_deref(), Some(parent.id.as_str()), "{r:#?}");
    }
    // in order: synchronize, review, CI failed, CI passed, merged
    let texts: Vec<String> = replies.iter().map(|r| r.body["text"].to_string()).collect();
    assert!(texts[4].contains("merged"), "{texts:#?}");
    // the merge is a state change: broadcast to the channel too
    assert!(replies[4].broadcast, "{:#?}", replies[4]);
    assert!(!replies[0].broadcast);
    // the parent shows the item's state now: merged (purple) with CI passed
    let body = parent.body.to_string();
    assert!(parent.edits >= 2, "{parent:#?}");
    assert_eq!(parent.body["attachments"][0]["color"], "#8250df", "{body}");
    assert!(body.contains("*CI*") && body.contains("passed"), "{body}");
    assert!(!body.contains("failed"), "{body}");
    // every request was a body Slack takes
    assert!(standin.received().iter().all(|r| r.refused.is_none()));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_lives_in_one_discord_thread_with_a_bot_token() {
    let standin = StandIn::start().await;
    let svc = Service::start(&config(&discord_bot_sink(&standin))).await;
    post_all(&svc, &pr_life()).await;

    let messages = standin.messages();
    let (parent, replies) = parent_and_replies(&messages, "123456789012345678");
    assert_eq!(parent.channel, "123456789012345678");
    assert_eq!(replies.len(), 5, "{messages:#?}");
    for r in &replies {
        assert_eq!(r.channel, parent.id, "replies live in the thread: {r:#?}");
    }
    assert_eq!(
        parent.body["embeds"][0]["color"], 8_540_383,
        "{:#}",
        parent.body
    );
    let fields = parent.body["embeds"][0]["fields"].to_string();
    assert!(
        fields.contains("\"CI\"") && fields.contains("passed"),
        "{fields}"
    );
    // the merge shows in the channel as a line linking the thread
    let lines: Vec<&Message> = messages
        .iter()
        .filter(|m| {
            m.body["content"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("<#{}>", parent.id))
        })
        .collect();
    assert_eq!(lines.len(), 1, "{messages:#?}");
    assert_eq!(lines[0].channel, "123456789012345678");
    assert!(standin.received().iter().all(|r| r.refused.is_none()));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_request_is_one_forum_post_through_a_discord_webhook() {
    let standin = StandIn::start().await;
    let svc = Service::start(&config(&forum_sink(&standin))).await;
    post_all(&svc, &pr_life()).await;

    let messages = standin.messages();
    let (parent, replies) = parent_and_replies(&messages, "-");
    assert_eq!(parent.thread.as_deref(), Some(parent.id.as_str()));
    assert_eq!(replies.len(), 5, "{messages:#?}");
    for r in &replies {
        assert_eq!(r.channel, parent.id, "{r:#?}");
    }
    let first = standin
        .received()
        .into_iter()
        .find(|r| r.method == "POST")
        .unwrap();
    assert!(first.query.contains("wait=true"), "{}", first.query);
    let name = first.json()["thread_name"].as_str().unwrap().to_string();
    assert!(
        name.contains("Update the README") && name.chars().count() <= 100,
        "{name}"
    );
    assert_eq!(parent.body["embeds"][0]["color"], 8_540_383);
    assert!(standin.received().iter().all(|r| r.refused.is_none()));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_parent_gets_a_new_one_and_edits_of_it_are_dropped() {
    let standin = StandIn::start().await;
    let svc = Service::start(&config(&slack_sink(&standin))).await;
    let steps = pr_life();
    post_all(&svc, &steps[..2]).await;
    let (parent, _) = parent_and_replies(&standin.messages(), "CENG");
    standin.forget(&parent.id);
    post_all(&svc, &steps[2..]).await;

    let messages = standin.messages();
    let (new_parent, replies) = parent_and_replies(&messages, "CENG");
    assert_ne!(new_parent.id, parent.id);
    // the review found the parent gone and became the new parent (which
    // the merge then edited)
    let tops: Vec<Value> = standin
        .received()
        .iter()
        .filter(|r| r.path.ends_with("chat.postMessage"))
        .map(|r| r.json())
        .filter(|b| b.get("thread_ts").is_none())
        .collect();
    assert_eq!(tops.len(), 2, "{tops:#?}");
    assert!(
        tops[1]["text"].as_str().unwrap().contains("review"),
        "{:#}",
        tops[1]
    );
    assert_eq!(new_parent.body["attachments"][0]["color"], "#8250df");
    assert_eq!(
        replies
            .iter()
            .filter(|r| r.thread.as_deref() == Some(new_parent.id.as_str()))
            .count(),
        3,
        "{messages:#?}"
    );
    // nothing is dead: a gone parent is not an error
    let dead = svc
        .store()
        .list(Some(hookbridge::outbox::Status::Dead), 50)
        .await
        .unwrap();
    assert!(dead.is_empty(), "{dead:#?}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_survive_kill_9_and_a_restart() {
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(
        &path,
        config(&slack_sink(&standin)).replace("{dir}", dir.path().to_str().unwrap()),
    )
    .unwrap();
    let steps = pr_life();
    let client = reqwest::Client::new();
    let post = |addr: String, headers: Vec<(String, String)>, body: Vec<u8>| {
        let client = client.clone();
        async move {
            let mut req = client.post(format!("{addr}/hooks/github")).body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send().await.unwrap().status().as_u16()
        }
    };
    let mut first = Proc::serve(&path, &[], &[]);
    for (headers, body, _) in &steps[..3] {
        assert_eq!(
            post(first.addr.clone(), headers.clone(), body.clone()).await,
            202
        );
    }
    // killed as soon as the parent is out, with replies maybe still queued
    standin.wait_for(1).await;
    first.kill9();
    let mut second = Proc::serve(&path, &[], &[]);
    for (headers, body, _) in &steps[3..] {
        assert_eq!(
            post(second.addr.clone(), headers.clone(), body.clone()).await,
            202
        );
    }
    eventually(30, "the whole life posted", || {
        let n = standin.messages().len();
        async move { n >= 6 }
    })
    .await;
    eventually(30, "the parent shows the merge", || {
        let done = standin
            .messages()
            .iter()
            .any(|m| m.thread.is_none() && m.body["attachments"][0]["color"] == "#8250df");
        async move { done }
    })
    .await;
    let messages = standin.messages();
    let tops: Vec<&Message> = messages.iter().filter(|m| m.thread.is_none()).collect();
    // The kill may land after Slack took the parent and before its ids were
    // committed: then the parent is posted again on restart (the one case a
    // message may be sent twice), and the first copy stays without replies.
    assert!(!tops.is_empty() && tops.len() <= 2, "{messages:#?}");
    let parent = tops[tops.len() - 1];
    if tops.len() == 2 {
        assert!(
            tops[0].body["text"].as_str().unwrap().contains("opened"),
            "{:#?}",
            tops[0]
        );
        assert!(
            messages
                .iter()
                .all(|m| m.thread.as_deref() != Some(tops[0].id.as_str())),
            "{messages:#?}"
        );
    }
    let replies: Vec<&Message> = messages.iter().filter(|m| m.thread.is_some()).collect();
    // at most a reply twice (sent, answer lost to the kill), never outside
    assert!(replies.len() >= 5, "{messages:#?}");
    for r in &replies {
        assert_eq!(r.thread.as_deref(), Some(parent.id.as_str()), "{r:#?}");
    }
    second.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_discord_thread_gets_a_new_parent() {
    let standin = StandIn::start().await;
    let svc = Service::start(&config(&discord_bot_sink(&standin))).await;
    let steps = pr_life();
    post_all(&svc, &steps[..2]).await;
    let (parent, _) = parent_and_replies(&standin.messages(), "123456789012345678");
    standin.archive(&parent.id);
    post_all(&svc, &steps[2..3]).await;

    let received = standin.received();
    let refused = received
        .iter()
        .filter(|r| {
            r.path
                .ends_with(&format!("/channels/{}/messages", parent.id))
        })
        .count();
    assert_eq!(
        refused, 2,
        "the synchronize went in, the review met the archive"
    );
    let tops: Vec<Message> = standin
        .messages()
        .into_iter()
        .filter(|m| m.channel == "123456789012345678")
        .collect();
    assert_eq!(tops.len(), 2, "{tops:#?}");
    assert!(
        tops[1].body.to_string().contains("review"),
        "{:#}",
        tops[1].body
    );
    let dead = svc
        .store()
        .list(Some(hookbridge::outbox::Status::Dead), 50)
        .await
        .unwrap();
    assert!(dead.is_empty(), "{dead:#?}");
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_run_run_again_edits_its_message_instead_of_posting_again() {
    let standin = StandIn::start().await;
    let svc = Service::start(&config(&slack_sink(&standin))).await;
    let rel = "github/workflow_run.in_progress.1.json";
    let mut failed: Value = serde_json::from_slice(&fixture(rel)).unwrap();
    failed["action"] = json!("completed");
    failed["workflow_run"]["status"] = json!("completed");
    failed["workflow_run"]["conclusion"] = json!("failure");
    let mut passed = failed.clone();
    passed["workflow_run"]["conclusion"] = json!("success");
    passed["workflow_run"]["run_attempt"] = json!(2);
    for (n, v) in [failed, passed].iter().enumerate() {
        let body = serde_json::to_vec(v).unwrap();
        let mut headers: Vec<(String, String)> = fixture_headers(rel)
            .into_iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("x-github-delivery"))
            .collect();
        headers.push(("X-GitHub-Delivery".into(), format!("living-run-{n}")));
        headers.extend(signature_headers("github", SECRET, &body));
        let a = svc.post("github", &headers, body).await;
        assert_eq!(a.status, 202, "{}", a.body);
        drained(&svc).await;
    }
    let messages = standin.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0].edits, 1);
    let text = messages[0].body["text"].as_str().unwrap();
    assert!(text.starts_with('✅'), "{text}");
    assert!(
        standin
            .received()
            .iter()
            .any(|r| r.path.ends_with("chat.update") && r.refused.is_none())
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_a_parent_with_its_sent_mark_and_its_card() {
    use hookbridge::outbox::{
        Accepted, DeliveryMeta, Lane, NewMessage, PgStore, Store, ThreadIds, ThreadState,
    };
    let Some(pg) = crate::pgserver::shared() else {
        return;
    };
    let url = pg.database().await;
    // one replica without leases: fencing is the lease tests' concern
    let opts = hookbridge::outbox::store::postgres::PgOptions {
        upgrade: true,
        leases: None,
        prune: false,
        clock: None,
    };
    let store = PgStore::connect_with(&url, opts).await.unwrap();
    let lane = Lane {
        sink: "team".into(),
        channel: "#eng".into(),
    };
    let meta = DeliveryMeta {
        source: "github".into(),
        delivery_id: "pg-thread-1".into(),
        kind: "pull_request.opened".into(),
        repo: "acme/api".into(),
    };
    let msg = NewMessage {
        lane: lane.clone(),
        message: "hi".into(),
    };
    let Accepted::Stored(ids) = store.accept(meta, vec![msg]).await.unwrap() else {
        panic!("duplicate");
    };
    let key = "github:acme/api#pr-1";
    let state = ThreadState {
        ids: ThreadIds {
            message_id: "1700000000.000001".into(),
            thread_id: Some("CENG".into()),
        },
        card: Some("{\"card\":1,\"title\":\"#1\"}".into()),
    };
    store
        .mark_sent_thread(ids[0], &lane, &[(key.to_string(), state.clone())])
        .await
        .unwrap();
    assert!(store.head(&lane).await.unwrap().is_none());
    assert_eq!(
        store.thread_state(&lane, key).await.unwrap(),
        Some(state.clone())
    );
    // ids alone keep the card
    store.put_thread(&lane, key, &state.ids).await.unwrap();
    assert_eq!(store.thread_state(&lane, key).await.unwrap(), Some(state));
    // a row that is not there keeps nothing
    let other = "github:acme/api#pr-2";
    let none = ThreadState::default();
    assert!(
        store
            .mark_sent_thread(ids[0] + 1_000, &lane, &[(other.to_string(), none)])
            .await
            .is_err()
    );
    assert_eq!(store.thread(&lane, other).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_edit_never_blocks_the_lane_and_a_forgotten_one_is_dropped() {
    use crate::standin::{Behaviour, Platform};
    let standin = StandIn::start().await;
    // opened: post; CI failed: reply, edit (forgotten); review: reply;
    // merged: reply, edit (refused for good)
    standin.script(
        Platform::Slack,
        [
            Behaviour::Ok,
            Behaviour::Ok,
            Behaviour::SlackError("message_not_found"),
            Behaviour::Ok,
            Behaviour::Ok,
            Behaviour::SlackError("cant_update_message"),
        ],
    );
    let svc = Service::start(&config(&slack_sink(&standin))).await;
    let steps = pr_life();
    post_all(
        &svc,
        &[
            steps[0].clone(),
            steps[3].clone(),
            steps[2].clone(),
            steps[5].clone(),
        ],
    )
    .await;

    let messages = standin.messages();
    let (parent, replies) = parent_and_replies(&messages, "CENG");
    assert_eq!(replies.len(), 3, "{messages:#?}");
    assert_eq!(parent.edits, 0);
    let updates = standin
        .received()
        .iter()
        .filter(|r| r.path.ends_with("chat.update"))
        .count();
    assert_eq!(updates, 2);
    let dead = svc
        .store()
        .list(Some(hookbridge::outbox::Status::Dead), 50)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:#?}");
    let error = dead[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("cant_update_message"), "{error}");
    svc.stop().await;
}

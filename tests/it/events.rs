//! What each event says, over real HTTP: signed fixture bytes in, the
//! messages the stand-in receives out. One action posts one message (a
//! GitHub branch deletion arrives as `delete` and as a `push`), and a
//! GitLab job routes by its project like any other event.

use hookbridge::outbox::{Row, Status};

use crate::common::*;
use crate::standin::{Platform, StandIn};

const SECRET: &str = "events-secret";

fn config(standin: &StandIn, routes: &str) -> String {
    format!(
        r##"
[store]
path = "{{dir}}/hb.db"

[delivery]
timeout = "2s"
min_interval = "0s"

[sources.github]
kind = "github"
secret = "{SECRET}"

[sources.gitlab]
kind = "gitlab"
secret = "{SECRET}"

[sinks.slack]
kind = "slack"
token = "xoxb-test-token"
api_base = "{slack}"

{routes}
"##,
        slack = standin.slack_api_base(),
    )
}

/// Every row the outbox holds (queued at the 202, before any delivery).
async fn rows(svc: &Service) -> Vec<Row> {
    svc.store().list(None, 100).await.unwrap()
}

/// The Slack `text` line of a received request.
fn slack_text(r: &crate::standin::Received) -> String {
    assert_eq!(r.platform, Some(Platform::Slack), "{}", r.path);
    r.json()["text"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_github_branch_deletion_posts_once() {
    let standin = StandIn::start().await;
    // The shipped route's events: both deliveries match it.
    let routes = r#"
[[routes]]
sources = ["github"]
events = ["push", "pull_request", "issues", "issue_comment", "release", "create", "delete"]
to = ["slack:#eng"]
"#;
    let svc = Service::start(&config(&standin, routes)).await;
    for rel in ["github/delete.1.json", "github/push.2.json"] {
        let a = svc.post_fixture("github", "github", SECRET, rel).await;
        assert!(
            matches!(a.status, 200 | 202),
            "{rel}: {} {}",
            a.status,
            a.body
        );
    }
    // Both deliveries are queued; the lane worker renders each as it
    // sends, and the `delete` (whose news the push carries) renders
    // nothing, so it is marked sent without a post.
    let queued = rows(&svc).await;
    let mut kinds: Vec<&str> = queued.iter().map(|r| r.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["delete", "push"], "{queued:#?}");
    // A later event on the same channel arrives after anything queued
    // before it, so once it is in, nothing else is on its way.
    let a = svc
        .post_fixture("github", "github", SECRET, "github/issues.opened.1.json")
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let got = standin.wait_for(2).await;
    assert_eq!(got.len(), 2);
    let deletion = slack_text(&got[0]);
    assert!(
        deletion.contains("deleted branch `feature`") && !deletion.contains("commit"),
        "{deletion}"
    );
    assert!(slack_text(&got[1]).contains("opened issue #2"));
    let after = rows(&svc).await;
    let deletes: Vec<&Row> = after.iter().filter(|r| r.kind == "delete").collect();
    assert_eq!(deletes.len(), 1, "{after:#?}");
    assert_eq!(
        (deletes[0].status, deletes[0].attempts),
        (Status::Sent, 1),
        "{after:#?}"
    );
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitlab_job_routes_by_its_project() {
    let standin = StandIn::start().await;
    let routes = r#"
[[routes]]
sources = ["gitlab"]
repos = ["someone-else/*"]
to = ["slack:#other"]

[[routes]]
sources = ["gitlab"]
repos = ["HydrallHarsh/*"]
events = ["build", "pipeline"]
to = ["slack:#ci"]
"#;
    let svc = Service::start(&config(&standin, routes)).await;
    let a = svc
        .post_fixture("gitlab", "gitlab", SECRET, "gitlab/build.failed.1.json")
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let queued = rows(&svc).await;
    assert_eq!(queued.len(), 1, "{queued:#?}");
    assert_eq!(queued[0].repo, "HydrallHarsh/test-1");
    assert_eq!(queued[0].lane.channel, "#ci");
    let got = standin.wait_for(1).await;
    let body = got[0].json();
    assert_eq!(body["channel"], "#ci");
    let text = slack_text(&got[0]);
    assert!(
        text.starts_with("❌ Job")
            && text.contains("build-job")
            && text.contains("failed on `master`"),
        "{text}"
    );
    // The card says it in colour and facts: red, the commit and duration.
    let card = body["attachments"][0].to_string();
    assert!(
        card.contains("script failure") && card.contains("31s"),
        "{card}"
    );
    svc.stop().await;
}

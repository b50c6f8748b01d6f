//! Threads: which item (pull request, issue, merge request, discussion, CI
//! run) an event belongs to, so that a route with `thread = true` keeps the
//! item's events in one thread under a parent card.
//!
//! Owns the thread key (`<source>:<repo>#pr-12`, `#issue-7`, `#mr-3`,
//! `#discussion-19`, `#commit-<sha>`) and which events change an item's
//! state (opened, closed, merged, reopened). Pure functions of the event;
//! the outbox keeps the platform ids each key maps to.
//!
//! Also owns [`Threading`], what a queued message says about its thread
//! (which item, and whether it is a post, a replacement of the parent or a
//! patch of it), kept inside the stored message so that it lives and dies
//! with the outbox row; the [`steps`] an event queues for a target (the
//! post, then the follow-ups that edit the parent, each with the [`Part`]
//! of the card it sends); and the merging of an edit into the parent's card.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Config, SinkKind, Target};
use crate::event::Event;
use crate::render::{Card, Field, Platform};

/// What one queued message does to its item's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// A message of the item: a reply in its thread, or the parent when
    /// the thread has none yet.
    #[default]
    Post,
    /// The parent becomes this card (a state change of the item itself),
    /// keeping the CI field it had.
    Edit,
    /// The parent takes this card's title, link and colour (when set) and
    /// its fields, replacing fields of the same name.
    Patch,
    /// Discord bot: a short top-level line that links the thread.
    Line,
}

/// The thread part of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Threading {
    /// The item's thread key.
    pub key: String,
    #[serde(default)]
    pub op: Op,
    /// A reply that is also shown in the channel (Slack `reply_broadcast`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broadcast: bool,
    /// A CI run's own key: the message the run posted is edited as it
    /// progresses instead of posting again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// The name of the CI field a parent card shows.
pub const CI_FIELD: &str = "CI";

/// The stored message with `t` inside it (`{"card":1,"thread":{…},…}`):
/// readers of the card ignore the extra key.
pub fn attach(stored: &str, t: &Threading) -> String {
    let Ok(json) = serde_json::to_string(t) else {
        return stored.to_string();
    };
    match stored.strip_prefix("{\"card\":1") {
        Some(rest) => format!("{{\"card\":1,\"thread\":{json}{rest}"),
        None => stored.to_string(),
    }
}

/// The thread part of a stored message, if it has one.
pub fn of_stored(stored: &str) -> Option<Threading> {
    #[derive(Deserialize)]
    struct Outer {
        thread: Option<Threading>,
    }
    if !stored.starts_with("{\"card\":1,\"thread\":") {
        return None;
    }
    serde_json::from_str::<Outer>(stored).ok()?.thread
}

/// The thread keys of one event: its item's and, for a CI run, the run's.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    pub item: Option<String>,
    pub run: Option<String>,
}

impl Keys {
    /// The keys of `event` whose payload is `payload`; none unless some
    /// route of `config` threads (no work on the request path otherwise).
    pub fn of(config: &Config, event: &Event, payload: &Value) -> Keys {
        if !config.routes.iter().any(|r| r.thread) {
            return Keys::default();
        }
        Keys {
            item: key_in(event, payload).map(ThreadKey::into_string),
            run: run_key(event, payload),
        }
    }
}

/// Which part of the rendered card a queued message sends: the card
/// itself, or the part of it that a follow-up edit of the parent takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// The whole card.
    #[default]
    Card,
    /// Its title, link and colour (a `Patch` keeping the parent's heading
    /// current).
    Heading,
    /// The parent's CI field, made from the event's CI facts.
    Ci,
}

impl Part {
    pub fn is_card(&self) -> bool {
        *self == Part::Card
    }

    /// The card this part sends, cut from the rendered `card` of `event`;
    /// empty when there is nothing to send. A card that renders nothing
    /// sends nothing in any part.
    pub fn cut(self, card: Card, event: &Event, platform: Platform) -> Card {
        if card.is_empty() {
            return card;
        }
        match self {
            Part::Card => card,
            Part::Heading => Card {
                title: card.title,
                url: card.url,
                color: card.color,
                ..Card::default()
            },
            Part::Ci => Card {
                fields: ci_field(event, platform).into_iter().collect(),
                ..Card::default()
            },
        }
    }
}

/// What one queued message of a target does: its thread (none for a
/// top-level post) and which part of the card it sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub thread: Option<Threading>,
    pub part: Part,
}

/// The messages one event queues for `target`: the post itself (with its
/// [`Threading`] when the route threads and the sink can), then the
/// follow-ups that edit the item's parent, each one platform call of its
/// own. Decided from the event and the config alone: the card is rendered
/// when the message is sent.
pub fn steps(
    config: &Config,
    event: &Event,
    keys: &Keys,
    target: &Target,
    platform: Platform,
) -> Vec<Step> {
    let plain = vec![Step {
        thread: None,
        part: Part::Card,
    }];
    let Some(key) = keys.item.clone() else {
        return plain;
    };
    let Some(sink) = config.sinks.get(&target.sink) else {
        return plain;
    };
    if sink.can_thread().is_err() {
        return plain;
    }
    let Some(route) = config
        .routes
        .iter()
        .find(|r| r.to.contains(target) && crate::routing::matches(r, event))
    else {
        return plain;
    };
    if !route.thread {
        return plain;
    }
    let follow = |op: Op, key: &str, part: Part| Step {
        thread: Some(Threading {
            key: key.to_string(),
            op,
            broadcast: false,
            run: None,
        }),
        part,
    };
    let mut follow_ups = Vec::new();
    let mut t = Threading {
        key,
        op: Op::Post,
        broadcast: false,
        run: None,
    };
    if event.ci.is_some() {
        let run = keys.run.clone();
        let in_item = t.key.contains("#pr-") || t.key.contains("#mr-");
        if in_item {
            if ci_field(event, platform).is_some() {
                follow_ups.push(follow(Op::Patch, &t.key, Part::Ci));
            }
            t.run = run;
        } else if let Some(run) = run {
            t.key.clone_from(&run);
            t.run = Some(run);
        }
    } else {
        let broadcast = route.broadcast && is_state_change(event);
        let discord_bot = sink.kind == SinkKind::Discord && sink.token.is_some();
        t.broadcast = broadcast && sink.kind == SinkKind::Slack;
        if broadcast && discord_bot {
            follow_ups.push(follow(Op::Line, &t.key, Part::Card));
        }
        if is_item_event(event) {
            if is_state_change(event) {
                follow_ups.push(follow(Op::Edit, &t.key, Part::Card));
            } else {
                follow_ups.push(follow(Op::Patch, &t.key, Part::Heading));
            }
        }
    }
    let mut steps = vec![Step {
        thread: Some(t),
        part: Part::Card,
    }];
    steps.extend(follow_ups);
    steps
}

/// A CI run's own key (`<source>:<repo>#run-<id>`), for events with CI facts.
pub fn run_key(event: &Event, p: &Value) -> Option<String> {
    let ci = event.ci.as_ref()?;
    let id = [
        &p["check_run"]["id"],
        &p["check_suite"]["id"],
        &p["workflow_run"]["id"],
        &p["workflow_job"]["id"],
        &p["deployment_status"]["id"],
        &p["object_attributes"]["id"],
        &p["build_id"],
        &p["id"],
    ]
    .into_iter()
    .find_map(num)
    .or(ci.number)
    .map(|n| n.to_string())
    .or_else(|| (!ci.sha.is_empty()).then(|| format!("{}-{}", ci.name, ci.sha)))?;
    Some(format!("{}:{}#run-{id}", event.source, event.repo.key))
}

/// True for events of the item itself (not a comment or review on it).
pub fn is_item_event(event: &Event) -> bool {
    let noun = event.kind.split('.').next().unwrap_or_default();
    matches!(
        noun,
        "pull_request" | "issues" | "issue" | "merge_request" | "discussion" | "work_item"
    )
}

/// The CI field a parent shows for a run: its result in words, linked.
pub fn ci_field(event: &Event, platform: Platform) -> Option<Field> {
    let ci = event.ci.as_ref()?;
    let (icon, word) = match (ci.finished, ci.conclusion.as_str()) {
        (true, "success") => ("✅", "passed"),
        (true, "failure" | "timed_out" | "startup_failure") => ("❌", "failed"),
        (true, "cancelled") => ("⚪", "cancelled"),
        (true, "skipped" | "neutral") => ("⚪", "skipped"),
        (true, _) => ("⚠️", "needs attention"),
        (false, _) if ci.status == "queued" => ("⏳", "queued"),
        (false, _) => ("⏳", "running"),
    };
    let d = platform.dialect();
    let name = if ci.workflow.is_empty() {
        &ci.name
    } else {
        &ci.workflow
    };
    let what = if name.is_empty() {
        word.to_string()
    } else {
        format!("{} {word}", d.escape(name))
    };
    let url = Some(ci.url.as_str()).filter(|u| {
        (u.starts_with("https://") || u.starts_with("http://"))
            && !u.contains(|c: char| c.is_whitespace() || matches!(c, '|' | '<' | '>' | '(' | ')'))
    });
    let value = match url {
        Some(url) if platform == Platform::Slack => format!("{icon} <{url}|{what}>"),
        Some(url) if platform == Platform::Discord => format!("{icon} [{what}]({url})"),
        _ => format!("{icon} {what}"),
    };
    Some(Field {
        name: CI_FIELD.to_string(),
        value,
        inline: true,
    })
}

/// The parent card after `edit` (the card of an `Edit` or `Patch` row).
pub fn merge(parent: &Card, edit: &Card, op: Op) -> Card {
    match op {
        Op::Edit => {
            let mut card = edit.clone();
            if !card.fields.iter().any(|f| f.name == CI_FIELD)
                && let Some(ci) = parent.fields.iter().find(|f| f.name == CI_FIELD)
            {
                card.fields.push(ci.clone());
            }
            card
        }
        _ => {
            let mut card = parent.clone();
            if !edit.title.is_empty() {
                card.title.clone_from(&edit.title);
            }
            if !edit.url.is_empty() {
                card.url.clone_from(&edit.url);
            }
            if !edit.color.is_empty() {
                card.color.clone_from(&edit.color);
            }
            for f in &edit.fields {
                match card.fields.iter_mut().find(|g| g.name == f.name) {
                    Some(g) => *g = f.clone(),
                    None => card.fields.push(f.clone()),
                }
            }
            card
        }
    }
}

/// What an event is about, for threading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadKey(String);

impl ThreadKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key as stored (`github:acme/api#pr-12`).
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::fmt::Display for ThreadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The item `event` belongs to; `None` for events with no item (push,
/// release, star, …), which post top-level.
pub fn key(event: &Event) -> Option<ThreadKey> {
    key_in(event, &event.payload)
}

/// [`key`] with the payload apart from the event (the request path moves
/// it out before rendering).
pub fn key_in(event: &Event, payload: &Value) -> Option<ThreadKey> {
    let item = match event.source_kind.as_str() {
        "gitlab" => gitlab_item(payload),
        "huggingface" => hub_item(payload),
        _ => forge_item(event, payload),
    }?;
    Some(ThreadKey(format!(
        "{}:{}#{item}",
        event.source, event.repo.key
    )))
}

/// True when the event changes its item's state in a way the channel
/// should see (`broadcast = true`): opened, closed, merged, reopened.
pub fn is_state_change(event: &Event) -> bool {
    let Some((noun, action)) = event.kind.split_once('.') else {
        return false;
    };
    matches!(noun, "pull_request" | "issues" | "discussion")
        && matches!(
            action,
            "opened" | "closed" | "merged" | "reopened" | "create" | "created"
        )
        || matches!(noun, "merge_request" | "issue" | "work_item")
            && matches!(action, "open" | "close" | "merge" | "reopen")
}

fn num(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn sha(v: &Value) -> Option<&str> {
    v.as_str()
        .filter(|s| !s.is_empty() && !s.bytes().all(|b| b == b'0'))
}

/// GitHub, Gitea, Forgejo, Gogs and DagsHub: GitHub's event names.
fn forge_item(event: &Event, p: &Value) -> Option<String> {
    let noun = event.kind.split('.').next().unwrap_or_default();
    let pr = |v: &Value| num(&v["number"]).map(|n| format!("pr-{n}"));
    match noun {
        "pull_request"
        | "pull_request_review"
        | "pull_request_review_comment"
        | "pull_request_review_thread"
        | "pull_request_comment"
        | "pull_request_assign"
        | "pull_request_label"
        | "pull_request_milestone" => pr(&p["pull_request"]).or_else(|| pr(p)),
        "issue_comment" | "issues" | "issue_assign" | "issue_label" | "issue_milestone" => {
            let issue = &p["issue"];
            let n = num(&issue["number"]).or_else(|| num(&p["number"]))?;
            let on_pr = !issue["pull_request"].is_null() || p["is_pull"].as_bool() == Some(true);
            Some(if on_pr {
                format!("pr-{n}")
            } else {
                format!("issue-{n}")
            })
        }
        "discussion" | "discussion_comment" => {
            num(&p["discussion"]["number"]).map(|n| format!("discussion-{n}"))
        }
        "check_run" => ci(&p["check_run"], &p["check_run"]["head_sha"]),
        "check_suite" => ci(&p["check_suite"], &p["check_suite"]["head_sha"]),
        "workflow_run" => ci(&p["workflow_run"], &p["workflow_run"]["head_sha"]),
        "workflow_job" => sha(&p["workflow_job"]["head_sha"]).map(|s| format!("commit-{s}")),
        "status" => sha(&p["sha"]).map(|s| format!("commit-{s}")),
        "deployment_status" | "deployment" => {
            sha(&p["deployment"]["sha"]).map(|s| format!("commit-{s}"))
        }
        _ => None,
    }
}

/// A CI run belongs to its pull request when it has one, else its commit.
fn ci(run: &Value, head_sha: &Value) -> Option<String> {
    if let Some(n) = run["pull_requests"]
        .as_array()
        .and_then(|prs| prs.first())
        .and_then(|pr| num(&pr["number"]))
    {
        return Some(format!("pr-{n}"));
    }
    sha(head_sha).map(|s| format!("commit-{s}"))
}

/// GitLab: merge requests `!iid`, issues `#iid`, notes by what they are on,
/// pipelines by their merge request or commit, jobs by commit.
fn gitlab_item(p: &Value) -> Option<String> {
    let attrs = &p["object_attributes"];
    match p["object_kind"].as_str()? {
        "merge_request" => num(&attrs["iid"]).map(|n| format!("mr-{n}")),
        "issue" | "work_item" => num(&attrs["iid"]).map(|n| format!("issue-{n}")),
        "note" => match attrs["noteable_type"].as_str()? {
            "MergeRequest" => num(&p["merge_request"]["iid"]).map(|n| format!("mr-{n}")),
            "Issue" => num(&p["issue"]["iid"]).map(|n| format!("issue-{n}")),
            "Commit" => sha(&p["commit"]["id"]).map(|s| format!("commit-{s}")),
            "Snippet" => num(&p["snippet"]["id"]).map(|n| format!("snippet-{n}")),
            _ => None,
        },
        "pipeline" => num(&p["merge_request"]["iid"])
            .map(|n| format!("mr-{n}"))
            .or_else(|| sha(&attrs["sha"]).map(|s| format!("commit-{s}"))),
        "build" => sha(&p["sha"])
            .or_else(|| sha(&p["commit"]["sha"]))
            .map(|s| format!("commit-{s}")),
        // A deployment names its commit only in `commit_url` (…/-/commit/<sha>).
        "deployment" => p["commit_url"]
            .as_str()
            .and_then(|u| u.rsplit_once("/commit/"))
            .and_then(|(_, s)| sha(&Value::from(s)).map(|s| format!("commit-{s}"))),
        _ => None,
    }
}

/// The Hub: discussions and pull requests share one numbering; a push to
/// `refs/pr/N` belongs to pull request N.
fn hub_item(p: &Value) -> Option<String> {
    let d = &p["discussion"];
    if let Some(n) = num(&d["num"]) {
        let noun = if d["isPullRequest"].as_bool() == Some(true) {
            "pr"
        } else {
            "discussion"
        };
        return Some(format!("{noun}-{n}"));
    }
    p["updatedRefs"].as_array()?.iter().find_map(|r| {
        let n = r["ref"].as_str()?.strip_prefix("refs/pr/")?;
        n.parse::<u64>().ok().map(|n| format!("pr-{n}"))
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use poem::http::{HeaderMap, HeaderName, HeaderValue};

    use super::*;
    use crate::config::{SourceConfig, SourceKind};
    use crate::sources::{Delivery, receive};

    /// The event a fixture becomes, sent as `kind` with its `.headers`.
    fn event(kind: SourceKind, rel: &str) -> Event {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let body = std::fs::read(dir.join(format!("{rel}.json"))).unwrap();
        let mut headers = HeaderMap::new();
        if let Ok(text) = std::fs::read_to_string(dir.join(format!("{rel}.headers"))) {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once(':') {
                    headers.insert(
                        HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                        HeaderValue::from_str(v.trim()).unwrap(),
                    );
                }
            }
        }
        let source = SourceConfig {
            name: kind.as_str().into(),
            kind,
            secrets: vec![],
            allow_unsigned: true,
        };
        let delivery = Delivery {
            headers: &headers,
            query: None,
            body: &body,
        };
        receive(&source, &delivery).unwrap_or_else(|e| panic!("{rel}: {}", e.message()))
    }

    fn item(kind: SourceKind, rel: &str) -> Option<String> {
        let key = key(&event(kind, rel))?.into_string();
        Some(key.split_once('#').unwrap().1.to_string())
    }

    #[test]
    fn every_item_event_names_its_item() {
        use SourceKind::*;
        let cases: &[(SourceKind, &str, Option<&str>)] = &[
            (Github, "github/pull_request.opened.1", Some("pr-")),
            (
                Github,
                "github/pull_request.review_requested.1",
                Some("pr-"),
            ),
            (Github, "github/issues.closed.1", Some("issue-")),
            (Github, "github/issue_comment.created.1", Some("")),
            (Github, "github/discussion.created.1", Some("discussion-")),
            (Github, "github/push.1", None),
            (Gitea, "gitea/issue_comment.created.1", Some("pr-")),
            (Gitea, "gitea/issue_comment.created.2", Some("issue-")),
            (Gitea, "gitea/pull_request.opened.1", Some("pr-")),
            (Gogs, "gogs/issue_comment.edited.1", Some("issue-")),
            (Gitlab, "gitlab/merge_request.open.1", Some("mr-")),
            (Gitlab, "gitlab/issue.open.1", Some("issue-")),
            (Gitlab, "gitlab/note.1", Some("issue-")),
            (Gitlab, "gitlab/note.2", Some("commit-")),
            (Gitlab, "gitlab/note.3", Some("snippet-")),
            (Gitlab, "gitlab/build.failed.1", Some("commit-")),
            (Gitlab, "gitlab/deployment.success.1", Some("commit-")),
            (
                Huggingface,
                "huggingface/discussion.create.1",
                Some("pr-19"),
            ),
            (
                Huggingface,
                "huggingface/repo.content.update.1",
                Some("pr-5"),
            ),
            (Huggingface, "huggingface/assembled/repo.create.1", None),
        ];
        for (kind, rel, want) in cases {
            let got = item(*kind, rel);
            match want {
                None => assert_eq!(got, None, "{rel}"),
                Some(prefix) => {
                    let got = got.unwrap_or_else(|| panic!("{rel}: no thread key"));
                    assert!(got.starts_with(prefix), "{rel}: {got}");
                }
            }
        }
    }

    #[test]
    fn a_key_names_the_source_and_repo_and_comments_join_their_item() {
        let opened = event(SourceKind::Github, "github/pull_request.opened.1");
        let k = key(&opened).unwrap();
        let n = opened.payload["pull_request"]["number"].as_u64().unwrap();
        assert_eq!(k.as_str(), format!("github:{}#pr-{n}", opened.repo.key));
        // The Hub's push to refs/pr/5 and the pull request 5 share a thread.
        let push = event(SourceKind::Huggingface, "huggingface/repo.content.update.1");
        assert!(key(&push).unwrap().as_str().ends_with("#pr-5"));
        // A merge, a close and an opening change state; a comment does not.
        assert!(is_state_change(&opened));
        let comment = event(SourceKind::Github, "github/issue_comment.created.1");
        assert!(!is_state_change(&comment));
    }

    #[test]
    fn the_thread_part_rides_in_the_stored_card_and_readers_ignore_it() {
        let card = Card {
            text: "opened #12".into(),
            title: "#12 Fix".into(),
            ..Card::default()
        };
        let t = Threading {
            key: "github:acme/api#pr-12".into(),
            op: Op::Patch,
            broadcast: true,
            run: Some("github:acme/api#run-7".into()),
        };
        let stored = attach(&card.to_stored(), &t);
        assert_eq!(of_stored(&stored), Some(t));
        assert_eq!(Card::from_stored(&stored), card);
        assert_eq!(of_stored(&card.to_stored()), None);
        assert_eq!(of_stored("plain text of an old row"), None);
    }

    #[test]
    fn edits_keep_the_ci_field_and_patches_replace_only_their_parts() {
        let ci = |v: &str| Field {
            name: CI_FIELD.into(),
            value: v.into(),
            inline: true,
        };
        let parent = Card {
            text: "alice opened #12".into(),
            title: "#12 Fix".into(),
            color: "#1f883d".into(),
            fields: vec![ci("❌ failed")],
            ..Card::default()
        };
        let passed = Card {
            fields: vec![ci("✅ passed")],
            ..Card::default()
        };
        let after = merge(&parent, &passed, Op::Patch);
        assert_eq!(after.fields, vec![ci("✅ passed")]);
        assert_eq!(
            (after.text.as_str(), after.color.as_str()),
            ("alice opened #12", "#1f883d")
        );
        let merged = Card {
            text: "bob merged #12".into(),
            title: "#12 Fix".into(),
            color: "#8250df".into(),
            ..Card::default()
        };
        let after = merge(&after, &merged, Op::Edit);
        assert_eq!(after.text, "bob merged #12");
        assert_eq!(after.color, "#8250df");
        assert_eq!(after.fields, vec![ci("✅ passed")]);
    }

    #[test]
    fn a_ci_run_has_a_key_of_its_own_and_a_field_in_words() {
        let run = event(SourceKind::Github, "github/check_run.completed.1");
        let k = run_key(&run, &run.payload).unwrap();
        assert!(k.starts_with("github:") && k.contains("#run-"), "{k}");
        let f = ci_field(&run, Platform::Slack).unwrap();
        assert_eq!(f.name, CI_FIELD);
        assert!(f.value.starts_with("❌ <https://"), "{}", f.value);
        let f = ci_field(&run, Platform::Discord).unwrap();
        assert!(f.value.contains("failed]("), "{}", f.value);
        let opened = event(SourceKind::Github, "github/pull_request.opened.1");
        assert_eq!(run_key(&opened, &opened.payload), None);
        assert!(is_item_event(&opened));
    }
}

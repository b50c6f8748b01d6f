//! The normalised `Event`: one vocabulary for every source.
//!
//! Each source's payload becomes an [`Event`] with a dotted `kind` (GitHub's
//! names for every forge, `<scope>.<action>` for the Hugging Face Hub), a repo
//! key that `repos` patterns match, and the facts templates need to say who
//! did what to which item without digging in the payload: the item and how
//! its forge names it, the comment, the review, CI results, security alerts,
//! people by name, the ref flags that let one action post one message. The
//! words these fields hold (CI statuses and conclusions, review states, item
//! nouns) are the same across forges. The raw payload travels along for
//! anything the struct does not model.

use serde::Serialize;

/// One verified delivery, normalised.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Event {
    /// The config's source name (`[sources.<name>]`).
    pub source: String,
    /// The source kind (`github`, `gitea`, …).
    pub source_kind: String,
    /// The sender's delivery id, or a hash of the body when it sends none.
    pub delivery_id: String,
    /// Dotted kind: `push`, `pull_request.merged`, `repo.content.update`, …
    pub kind: String,
    /// The action part of the kind in its final words (`opened`, `merged`,
    /// `completed`, `update`); empty for kinds without one (`push`).
    pub action: String,
    pub repo: Repo,
    /// Who acted. GitLab: the display name, with the username in `login`.
    pub actor: Actor,
    /// Link to the thing the event is about (PR, issue, comment, compare, …).
    pub url: String,
    /// Title of the PR, issue, release or discussion, when there is one.
    pub title: String,
    /// Longer text: comment body, PR or issue description, release notes.
    /// Empty for confidential items (see `confidential`).
    pub body: String,
    /// Branch: pushed ref, pull request base, created/deleted branch, the
    /// branch a CI run ran on.
    pub branch: Option<String>,
    /// Tag, for tag pushes and tag create/delete.
    pub tag: Option<String>,
    /// Number of the PR, issue or discussion.
    pub number: Option<u64>,
    /// The item the event is about, named as its forge names it.
    pub item: Option<Item>,
    /// Pull request details.
    pub pull_request: Option<PullRequest>,
    /// The comment of a comment event (issue, pull request, review, commit,
    /// discussion, GitLab note).
    pub comment: Option<Comment>,
    /// The review of a review event (GitLab: an approval).
    pub review: Option<Review>,
    /// Commits of a push, newest first (a cut list keeps the newest).
    pub commits: Vec<Commit>,
    /// How many commits the push carried (may exceed `commits.len()`).
    pub total_commits: usize,
    /// Compare link of a push; empty when there is nothing to compare (a
    /// deleted ref), the new head commit for a new ref.
    pub compare_url: String,
    /// Ref events (`push`, `create`): the branch or tag was created.
    pub created: bool,
    /// Ref events (`push`, `delete`): the branch or tag was deleted.
    pub deleted: bool,
    /// A push that rewrote history (force push).
    pub forced: bool,
    /// Another delivery of the same action carries its message: the kind of
    /// that delivery (`push`, `release.published`, `workflow_run`,
    /// `workflow_job`), empty when this one is the message. Default
    /// templates render an event with `covered_by` to nothing.
    pub covered_by: String,
    /// Labels on the issue or pull request.
    pub labels: Vec<String>,
    /// The label this event added or removed (`labeled`, `unlabeled`).
    pub label: Option<String>,
    /// People assigned to the issue or pull request.
    pub assignees: Vec<Actor>,
    /// The person this event assigned or unassigned.
    pub assignee: Option<Actor>,
    /// Reviewers (people or teams) requested on the pull request.
    pub requested_reviewers: Vec<Actor>,
    /// The reviewer this event requested or removed.
    pub requested_reviewer: Option<Actor>,
    /// A confidential item (GitLab confidential issue, internal note): its
    /// text is not on the event; templates post a lock and a link.
    pub confidential: bool,
    /// CI and deployment facts (check runs and suites, workflow runs and
    /// jobs, commit statuses, deployments, GitLab pipelines, jobs and
    /// deployments).
    pub ci: Option<Ci>,
    /// A security alert (Dependabot, code scanning, secret scanning,
    /// repository vulnerability alerts).
    pub alert: Option<Alert>,
    /// Wiki pages a wiki event changed (GitHub `gollum`, GitLab wiki pages).
    pub pages: Vec<Page>,
    /// The person a membership event is about (`member.added`).
    pub member: Option<Actor>,
    /// The new repository of a `fork` event (`repo` is the one forked).
    pub fork: Option<Repo>,
    /// The emoji of a reaction (GitLab emoji awards), by name: `thumbsup`.
    pub emoji: String,
    /// Refs a Hub content update moved, in words and linked.
    pub refs: Vec<RefUpdate>,
    /// The raw payload, minus any `secret` field some forges put in it.
    #[serde(skip)]
    pub payload: serde_json::Value,
    /// The request body is the payload's JSON text as it is: the body was
    /// read as JSON (not a form) and nothing (no `secret`) was taken out.
    /// The outbox then keeps the body's bytes; else the payload written
    /// anew.
    #[serde(skip)]
    pub body_is_payload: bool,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Repo {
    /// What `repos` patterns match: `owner/name`, a GitLab project path, or
    /// the Hub URL path (`user/model`, `datasets/user/name`, `spaces/user/name`).
    pub key: String,
    /// Display name (`owner/name`).
    pub name: String,
    pub url: String,
    /// Hub repo type: `model`, `dataset` or `space`; empty for forges.
    #[serde(rename = "type")]
    pub repo_type: String,
}

/// A person (or a team, or an app).
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Actor {
    /// What to call them: the display name where the forge shows one
    /// (GitLab), else the login (`octocat`); the Hub sends names only
    /// sometimes (never a bare account id here).
    pub name: String,
    pub url: String,
    /// The username (`octocat`, `jdoe`), when the sender gives one.
    pub login: String,
    pub avatar_url: String,
}

/// A person, as the lists and single fields of an [`Event`] hold them.
pub type Person = Actor;

/// The thing an event is about, named in its forge's own words.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Item {
    /// `pull_request`, `issue`, `commit`, `snippet`, `design`,
    /// `discussion`, `release`, `wiki_page`, `alert`, `feature_flag`.
    #[serde(rename = "type")]
    pub item_type: String,
    /// The words for it: `pull request`, `merge request`, `issue`,
    /// `incident`, `task`, `commit`, `snippet`, `design`, `discussion`,
    /// `release`, `pre-release`, …
    pub noun: String,
    /// How the forge writes a reference to it: `#12`, `!12` (GitLab merge
    /// request), `$5` (GitLab snippet), a short commit sha; empty when it
    /// has none.
    pub reference: String,
    pub number: Option<u64>,
    pub title: String,
    pub url: String,
    /// `open`, `closed`, `merged`, `draft`, `published`, … when known.
    pub state: String,
    /// A discussion's category.
    pub category: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct PullRequest {
    pub base: String,
    pub head: String,
    /// Who opened it (login), when the payload says.
    pub author: String,
    pub merged: bool,
    pub draft: bool,
    pub additions: Option<u64>,
    pub deletions: Option<u64>,
    pub changed_files: Option<u64>,
    pub commits: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Comment {
    /// The text; empty when confidential.
    pub body: String,
    pub url: String,
    /// The file a review, diff or commit comment is on, and its line.
    pub path: String,
    pub line: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Review {
    /// `approved`, `changes_requested`, `commented`, `dismissed`; GitLab
    /// approvals: `approved` / `unapproved`.
    pub state: String,
    pub body: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Commit {
    pub id: String,
    pub message: String,
    pub url: String,
    pub author: String,
    /// The pusher wrote it: templates name the author only when not.
    pub by_pusher: bool,
}

/// What a CI run, job, check, status or deployment came to.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Ci {
    /// `queued`, `in_progress` or `completed`.
    pub status: String,
    /// Once completed: `success`, `failure`, `cancelled`, `skipped`,
    /// `timed_out`, `action_required`, `neutral`, `stale` or
    /// `startup_failure` (GitHub's words, for every forge); empty before.
    pub conclusion: String,
    /// The run has ended: what default templates post.
    pub finished: bool,
    /// The sender's own word for the state (`failed`, `running`, `error`,
    /// `pending`, `manual`, …).
    pub state: String,
    /// What ran: the workflow (not the run's title), the pipeline, the
    /// check, the job, the status context, the deployment's environment.
    pub name: String,
    /// The workflow or pipeline a job or check belongs to, when known.
    pub workflow: String,
    /// Run number, pipeline or job id, as the forge shows it.
    pub number: Option<u64>,
    /// The run's, job's or deployment's page.
    pub url: String,
    pub branch: String,
    pub sha: String,
    pub commit_url: String,
    /// First line of the commit message, when the payload has it.
    pub commit_title: String,
    /// The pull or merge request it ran for.
    pub pull_request: Option<Link>,
    pub duration_secs: Option<u64>,
    /// `duration_secs` in words: `45s`, `3m 12s`, `1h 4m`.
    pub duration: String,
    /// Jobs that failed (GitLab pipelines list their jobs), linked.
    pub failed_jobs: Vec<Job>,
    /// Deployments: the environment and its URL.
    pub environment: String,
    pub environment_url: String,
    /// A status's or check's one-line description.
    pub description: String,
    /// What started it: `push`, `pull_request`, `schedule`,
    /// `merge_request_event`, …
    pub trigger: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Link {
    pub number: Option<u64>,
    pub url: String,
    pub title: String,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Job {
    pub name: String,
    pub url: String,
    pub stage: String,
    /// Failed but allowed to (GitLab `allow_failure`).
    pub allowed_to_fail: bool,
}

/// A security alert.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Alert {
    /// Who found it: `Dependabot`, the code scanning tool (`CodeQL`),
    /// `secret scanning`.
    pub tool: String,
    pub number: Option<u64>,
    /// `critical`, `high`, `medium`, `low` (advisories, code scanning
    /// security severity), or the rule's `error` / `warning` / `note`.
    pub severity: String,
    /// One line: the advisory summary, the rule description, the secret's kind.
    pub summary: String,
    pub url: String,
    /// GHSA / CVE id, rule id, or secret type.
    pub identifier: String,
    /// The vulnerable package, and the first version that fixes it.
    pub package: String,
    pub fixed_in: String,
    /// The manifest or file it is in.
    pub path: String,
    /// The alert's state: `open`, `fixed`, `dismissed`, `resolved`, …
    pub state: String,
}

/// One ref a Hub content update moved.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct RefUpdate {
    /// The full ref: `refs/heads/main`, `refs/tags/v1`, `refs/pr/5`.
    #[serde(rename = "ref")]
    pub full: String,
    /// In words: `main`, `v1`, `PR #5`.
    pub name: String,
    /// `branch`, `tag` or `pull_request`.
    #[serde(rename = "type")]
    pub ref_type: String,
    /// The branch or tag's tree, or the pull request's discussion.
    pub url: String,
    /// The pull request's number, for `refs/pr/<n>`.
    pub number: Option<u64>,
    pub old_sha: String,
    pub new_sha: String,
    /// The new commit's page; empty when the ref was deleted.
    pub commit_url: String,
    pub created: bool,
    pub deleted: bool,
}

/// One wiki page of a wiki event.
#[derive(Debug, Clone, Serialize, Default, PartialEq, Eq)]
pub struct Page {
    pub title: String,
    /// `created`, `edited` or `deleted`.
    pub action: String,
    pub url: String,
    pub summary: String,
}

impl Event {
    /// True when `prefix` matches this event's kind as a dotted prefix
    /// (`pull_request` matches `pull_request.merged`; `*` matches all).
    pub fn kind_matches(&self, prefix: &str) -> bool {
        kind_matches(&self.kind, prefix)
    }
}

/// Dotted-prefix matching of event kinds, as `events = [...]` in a route.
///
/// ```
/// use hookbridge::event::kind_matches;
/// assert!(kind_matches("pull_request.merged", "pull_request"));
/// assert!(kind_matches("repo.content.update", "repo"));
/// assert!(kind_matches("push", "*"));
/// assert!(!kind_matches("pull_request_review.submitted", "pull_request"));
/// ```
pub fn kind_matches(kind: &str, prefix: &str) -> bool {
    if prefix == "*" {
        return true;
    }
    match kind.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('.'),
        None => false,
    }
}

impl Ci {
    /// Sets `status`, `conclusion` and `finished` from a sender's own state
    /// word (any forge's), keeping the word in `state`. A GitHub status and
    /// conclusion pair goes through [`Ci::set_github`] instead.
    pub fn set_state(&mut self, word: &str) {
        self.state = word.to_string();
        let (status, conclusion) = match word.to_ascii_lowercase().as_str() {
            "created"
            | "pending"
            | "queued"
            | "requested"
            | "waiting"
            | "waiting_for_resource"
            | "preparing"
            | "scheduled"
            | "blocked" => ("queued", ""),
            "running" | "in_progress" | "canceling" => ("in_progress", ""),
            "success" | "succeeded" | "passed" => ("completed", "success"),
            "failed" | "failure" | "error" | "errored" => ("completed", "failure"),
            "canceled" | "cancelled" => ("completed", "cancelled"),
            "skipped" => ("completed", "skipped"),
            "manual" | "action_required" => ("completed", "action_required"),
            "timed_out" => ("completed", "timed_out"),
            // A deployment replaced by a newer one.
            "inactive" | "stale" => ("completed", "stale"),
            "neutral" => ("completed", "neutral"),
            "startup_failure" => ("completed", "startup_failure"),
            "" => ("", ""),
            _ => ("in_progress", ""),
        };
        self.status = status.to_string();
        self.conclusion = conclusion.to_string();
        self.finished = status == "completed";
    }

    /// GitHub's `status` (`queued`, `in_progress`, `completed`, `waiting`,
    /// `requested`, `pending`) and `conclusion` pair.
    pub fn set_github(&mut self, status: &str, conclusion: &str) {
        if status == "completed" || (status.is_empty() && !conclusion.is_empty()) {
            self.set_state(if conclusion.is_empty() {
                "neutral"
            } else {
                conclusion
            });
            self.state = conclusion.to_string();
        } else {
            self.set_state(status);
        }
    }

    /// Sets the duration from seconds.
    pub fn set_duration(&mut self, secs: Option<u64>) {
        self.duration_secs = secs;
        self.duration = secs.map(human_duration).unwrap_or_default();
    }
}

/// Seconds in words: `45s`, `3m 12s`, `2h 5m`, `3d 4h`.
pub fn human_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) if s == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{d}d"),
        _ => format!("{d}d {h}h"),
    }
}

/// Seconds from `start` to `end`, two timestamps as senders write them
/// (`2021-08-05T10:34:58Z`, `2016-08-12 15:23:28 UTC`,
/// `2016-08-17T21:18:06+02:00`); `None` when either does not parse or the
/// end is before the start.
pub fn seconds_between(start: &str, end: &str) -> Option<u64> {
    let (a, b) = (unix_seconds(start)?, unix_seconds(end)?);
    u64::try_from(b - a).ok()
}

/// A timestamp as seconds since the epoch.
fn unix_seconds(text: &str) -> Option<i64> {
    let t = text.trim();
    let t = t.strip_suffix(" UTC").unwrap_or(t);
    // A numeric offset (`+02:00`, `-0500`) after the time.
    let (base, offset) = match t.get(10..).and_then(|rest| rest.rfind(['+', '-'])) {
        Some(i) => {
            let at = 10 + i;
            let sign = if t.as_bytes()[at] == b'-' { -1 } else { 1 };
            let digits: String = t[at + 1..].chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 4 {
                return None;
            }
            let hours: i64 = digits[..2].parse().ok()?;
            let minutes: i64 = digits[2..].parse().ok()?;
            (&t[..at], sign * (hours * 3_600 + minutes * 60))
        }
        None => (t, 0),
    };
    let time = humantime::parse_rfc3339_weak(base).ok()?;
    let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since.as_secs()).ok().map(|s| s - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_prefixes() {
        assert!(kind_matches("pull_request.merged", "pull_request"));
        assert!(kind_matches("pull_request.merged", "pull_request.merged"));
        assert!(!kind_matches(
            "pull_request_review.submitted",
            "pull_request"
        ));
        assert!(kind_matches("repo.content.update", "repo"));
        assert!(kind_matches("repo.content.update", "repo.content"));
        assert!(!kind_matches("repo.content.update", "repo.con"));
        assert!(kind_matches("anything", "*"));
        assert!(!kind_matches("push", "pull_request"));
    }

    #[test]
    fn ci_words_are_the_same_for_every_forge() {
        for (word, status, conclusion) in [
            ("pending", "queued", ""),
            ("created", "queued", ""),
            ("waiting_for_resource", "queued", ""),
            ("running", "in_progress", ""),
            ("success", "completed", "success"),
            ("failed", "completed", "failure"),
            ("error", "completed", "failure"),
            ("canceled", "completed", "cancelled"),
            ("skipped", "completed", "skipped"),
            ("manual", "completed", "action_required"),
            ("inactive", "completed", "stale"),
            ("something_new", "in_progress", ""),
        ] {
            let mut ci = Ci::default();
            ci.set_state(word);
            assert_eq!(
                (ci.status.as_str(), ci.conclusion.as_str(), ci.finished),
                (status, conclusion, status == "completed"),
                "{word}"
            );
            assert_eq!(ci.state, word);
        }
        let mut ci = Ci::default();
        ci.set_github("completed", "timed_out");
        assert_eq!((ci.conclusion.as_str(), ci.finished), ("timed_out", true));
        ci.set_github("in_progress", "");
        assert_eq!((ci.status.as_str(), ci.finished), ("in_progress", false));
        ci.set_github("waiting", "");
        assert_eq!(ci.status, "queued");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(45), "45s");
        assert_eq!(human_duration(192), "3m 12s");
        assert_eq!(human_duration(180), "3m");
        assert_eq!(human_duration(3_600 + 5 * 60 + 3), "1h 5m");
        assert_eq!(human_duration(7_200), "2h");
        assert_eq!(human_duration(86_400 * 3 + 3_600 * 4), "3d 4h");
        assert_eq!(
            seconds_between("2021-08-05T10:34:58Z", "2021-08-05T10:38:16Z"),
            Some(198)
        );
        assert_eq!(
            seconds_between("2016-08-12 15:23:28 UTC", "2016-08-12 15:26:29 UTC"),
            Some(181)
        );
        assert_eq!(
            seconds_between("2016-08-17T21:18:06+02:00", "2016-08-17T19:20:06Z"),
            Some(120)
        );
        assert_eq!(
            seconds_between("2021-08-05T10:38:16Z", "2021-08-05T10:34:58Z"),
            None
        );
        assert_eq!(seconds_between("yesterday", "2021-08-05T10:34:58Z"), None);
        assert_eq!(
            seconds_between("2021-08-05T10:26:08.000Z", "2021-08-05T10:26:11.000Z"),
            Some(3)
        );
    }
}

//! What users read: every fixture payload parsed, routed and rendered for
//! Slack and Discord, pinned as insta snapshots of the exact request body
//! (reviewed by hand); and hostile payloads (mentions, markdown, huge and
//! missing fields, non-ASCII) end to end, each body checked by the
//! stand-in's platform rules (shape and every hard limit) and for inert
//! mentions.

use hookbridge::config::SinkKind;
use hookbridge::pipeline::{Pipeline, Prepared};
use hookbridge::render::{Card, Platform, plain_text};
use hookbridge::sources::{self, Delivery};
use poem::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::common::{fixture, fixture_files, fixture_headers};
use crate::standin::{check_discord_body, check_slack_body};

const CONFIG: &str = r##"
[sources.github]
kind = "github"
allow_unsigned = true

[sources.gitea]
kind = "gitea"
allow_unsigned = true

[sources.gogs]
kind = "gogs"
allow_unsigned = true

[sources.huggingface]
kind = "huggingface"
allow_unsigned = true

[sources.gitlab]
kind = "gitlab"
allow_unsigned = true

[sinks.slack]
kind = "slack"
token = "xoxb-not-real"

[sinks.discord]
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/abc"

[[routes]]
to = ["slack:#eng", "discord"]
"##;

/// A pipeline built from [`CONFIG`] (embedded templates only: the temp dir
/// has no `templates/`). The dir is returned so it outlives the pipeline.
fn pipeline() -> (tempfile::TempDir, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let p = Pipeline::load(&path).unwrap_or_else(|e| panic!("config: {e}"));
    (dir, p)
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// Parses, routes and renders one delivery: the Slack and the Discord
/// message (exactly one of each) and what the stdout sink would print.
fn prepare(p: &Pipeline, source: &str, headers: &[(String, String)], body: &[u8]) -> Rendered {
    prepare_any(p, source, headers, body)
        .unwrap_or_else(|kind| panic!("{source} {kind}: the template renders nothing"))
}

/// As [`prepare`], or the event's kind when the templates render nothing
/// for it: then no platform gets a message (stdout included).
fn prepare_any(
    p: &Pipeline,
    source: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Rendered, String> {
    let headers = header_map(headers);
    let delivery = Delivery {
        headers: &headers,
        query: None,
        body,
    };
    let config = &p.config.sources[source];
    let event = sources::parse(config, &delivery)
        .unwrap_or_else(|e| panic!("{source}: parse refused: {e}"));
    let origin = hookbridge::pipeline::Origin::new(&event, config.kind, &headers);
    let (prepared, silent) = p.plan(&event, event.payload.clone(), &origin);
    let plain = p.renderer.render(Platform::Plain, "default", &event);
    if prepared.is_empty() {
        assert_eq!(
            silent.len(),
            2,
            "{source} {}: both targets silent",
            event.kind
        );
        assert!(
            plain.is_empty(),
            "{source} {}: stdout silent too",
            event.kind
        );
        return Err(event.kind.clone());
    }
    assert!(
        silent.is_empty(),
        "{source} {}: silent on one platform only",
        event.kind
    );
    let one = |kind: SinkKind| -> Prepared {
        let mut v: Vec<Prepared> = prepared
            .iter()
            .filter(|m| m.sink_kind == kind)
            .cloned()
            .collect();
        assert_eq!(v.len(), 1, "{source} {}: one {kind:?} message", event.kind);
        v.remove(0)
    };
    Ok(Rendered {
        kind: event.kind.clone(),
        slack: one(SinkKind::Slack),
        discord: one(SinkKind::Discord),
        // What the stdout sink would print, for the same checks.
        plain,
    })
}

struct Rendered {
    kind: String,
    slack: Prepared,
    discord: Prepared,
    plain: Card,
}

/// Every part a reader sees, one per line: text, title, author, body,
/// `name: value` per field, footer.
fn full(c: &Card) -> String {
    let mut lines = vec![
        c.text.clone(),
        c.title.clone(),
        c.author.name.clone(),
        c.body.clone(),
    ];
    lines.extend(c.fields.iter().map(|f| format!("{}: {}", f.name, f.value)));
    lines.push(c.footer.clone());
    lines.retain(|l| !l.is_empty());
    lines.join("\n")
}

impl Rendered {
    /// What each platform shows, with its platform.
    fn texts(&self) -> [(Platform, String); 3] {
        [
            (Platform::Slack, full(&self.slack.card)),
            (Platform::Discord, full(&self.discord.card)),
            (Platform::Plain, plain_text(&self.plain)),
        ]
    }
}

/// The request body its sink posts for the queued message: built from the
/// stored form, exactly as the sink builds it.
fn body_json(m: &Prepared) -> Value {
    let stored = hookbridge::render::request_body(
        m.platform,
        m.destination.target.channel.as_deref(),
        &m.message.message,
    );
    assert_eq!(
        stored,
        m.body(),
        "the stored card draws as the rendered one"
    );
    stored
}

// ------------------------------------------------------- fixture snapshots

/// Renders every fixture under `dir` with source `source`, checks each
/// message for the artefacts a missing field leaves behind, then snapshots
/// them as `<dir>__<fixture stem>__<platform>`.
fn snapshot_dir(source: &str, dir: &str) {
    let (_tmp, p) = pipeline();
    let files = fixture_files(dir);
    assert!(!files.is_empty(), "no fixtures in {dir}");
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for rel in &files {
        let body = fixture(rel);
        let stem = rel
            .rsplit('/')
            .next()
            .unwrap()
            .trim_end_matches(".json")
            .to_string();
        let prefix = dir.replace('/', "_");
        let r = match prepare_any(&p, source, &fixture_headers(rel), &body) {
            Ok(r) => r,
            Err(kind) => {
                for platform in ["slack", "discord"] {
                    out.push((
                        format!("{prefix}__{stem}__{platform}"),
                        format!("({kind}: the default templates render nothing; nothing is sent)"),
                    ));
                }
                continue;
            }
        };
        let payload: Value = serde_json::from_slice(&body).unwrap();
        for m in [&r.slack, &r.discord] {
            check_body(m, rel);
        }
        assert_secret_not_shown(&p, source, rel, &payload);
        for (platform, text) in r.texts() {
            problems.extend(readability_problems(rel, &r.kind, platform, &text));
        }
        for m in [&r.slack, &r.discord] {
            let body = serde_json::to_string_pretty(&body_json(m)).unwrap();
            out.push((format!("{prefix}__{stem}__{}", m.platform.as_str()), body));
        }
    }
    for (name, text) in out {
        insta::assert_snapshot!(name, text);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Reads a rendered message the way a user would, mechanically: no empty
/// markup, no doubled spaces, no words left dangling by a missing field.
/// Returns the problems, so one run shows every problem of a folder.
fn readability_problems(rel: &str, kind: &str, platform: Platform, text: &str) -> Vec<String> {
    let at = format!("{rel} ({kind}, {platform:?}):\n{text}");
    let mut problems = Vec::new();
    let mut problem = |what: String| problems.push(format!("{what}: {at}"));
    if text.trim().is_empty() {
        problem("empty message".into());
    }
    let empty_markup: &[&str] = match platform {
        Platform::Slack => &["<|", "|>", "<>", "**", "__", "``", "* *", "_ _"],
        Platform::Discord => &["[]", "(<>)", "****", "__", "``", "** **"],
        Platform::Plain => &["[]", "()"],
    };
    for bad in empty_markup {
        if text.contains(bad) {
            problem(format!("empty markup {bad:?}"));
        }
    }
    for line in text.lines() {
        let l = line.trim_start_matches("> ");
        // Plain text indents detail lines by two spaces.
        let l = if platform == Platform::Plain {
            l.strip_prefix("  ").unwrap_or(l)
        } else {
            l
        };
        if l.contains("  ") {
            problem("doubled space".into());
        }
        if l.starts_with(' ') {
            problem("line starts with a space".into());
        }
        // A quoted line is the sender's text, not the template's: it may
        // end in a colon or hold ` :+1:` as written.
        if line.starts_with("> ") {
            continue;
        }
        for dangling in [" in", " by", " to", " on", " of", " ·", "→", "←", "#"] {
            if l.ends_with(dangling) {
                problem(format!("line ends in {dangling:?} (missing field?)"));
            }
        }
        // ` .` only as punctuation: `Update .gitlab-ci.yml` is a file name.
        if l.contains(" . ") || l.ends_with(" .") {
            problem("stray \" .\"".into());
        }
        for stray in [" ,", "( ", " )", "()", "· ·", " in in ", " on on "] {
            if l.contains(stray) {
                problem(format!("stray {stray:?}"));
            }
        }
    }
    if text.to_lowercase().contains("secret") {
        problem("mentions a secret".into());
    }
    problems
}

/// Old Gogs/Gitea payloads carry the webhook secret in the body (Gitea
/// fixtures: `"123"`, too common to search for): render the payload again
/// with a recognisable secret and make sure no message shows it.
fn assert_secret_not_shown(p: &Pipeline, source: &str, rel: &str, payload: &Value) {
    let Some(Value::String(_)) = payload.get("secret") else {
        return;
    };
    const MARKER: &str = "hunter2-secret-marker";
    let mut with_marker = payload.clone();
    with_marker["secret"] = json!(MARKER);
    let body = with_marker.to_string().into_bytes();
    let r = prepare(p, source, &fixture_headers(rel), &body);
    for (platform, text) in r.texts() {
        assert!(
            !text.contains(MARKER),
            "{rel} {platform:?} shows the secret:\n{text}"
        );
    }
    for m in [&r.slack, &r.discord] {
        assert!(!m.message.message.contains(MARKER), "{rel}: secret queued");
    }
}

/// [`check_body`] for both messages and [`readability_problems`] for every
/// platform, asserted.
fn check_readable(rel: &str, r: &Rendered) {
    check_body(&r.slack, rel);
    check_body(&r.discord, rel);
    let problems: Vec<String> = r
        .texts()
        .into_iter()
        .flat_map(|(platform, text)| readability_problems(rel, &r.kind, platform, &text))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// The queued request body: a body the platform takes (shape and every
/// limit, as the stand-in checks them), mention-safe in every string.
fn check_body(m: &Prepared, at: &str) {
    let body = body_json(m);
    let at = &format!("{at} ({:?}):\n{body:#}", m.sink_kind);
    let mut strings = Vec::new();
    collect_strings(&body, &mut strings);
    match m.sink_kind {
        SinkKind::Slack => {
            if let Err(e) = check_slack_body(&body) {
                panic!("Slack would refuse it: {e}: {at}");
            }
            for s in &strings {
                assert_slack_inert(s, at);
            }
            assert_eq!(body["channel"], "#eng");
        }
        SinkKind::Discord => {
            if let Err(e) = check_discord_body(&body) {
                panic!("Discord would refuse it: {e}: {at}");
            }
            assert_eq!(
                body["allowed_mentions"]["parse"],
                json!([]),
                "allowed_mentions must parse nothing: {at}"
            );
            for s in &strings {
                assert_discord_inert(s, at);
            }
        }
        SinkKind::Stdout => unreachable!(),
    }
}

/// Every string in a JSON value that a reader may see (URLs of images and
/// links are checked by the platform rules instead).
fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.starts_with("https://") && !s.starts_with("http://") => {
            out.push(s.clone())
        }
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// No Slack control sequence (`<!…>`, `<@…>`, `<#…>`) and no bare
/// `@channel` / `@here` / `@everyone` in what the reader sees.
fn assert_slack_inert(text: &str, at: &str) {
    // The one control sequence of ours: a date in the reader's time zone.
    let text = &without_dates(text);
    for live in ["<!", "<@", "<#"] {
        assert!(!text.contains(live), "live Slack mention {live:?}: {at}");
    }
    let shown = shown_text(Platform::Slack, text, at);
    assert_no_mass_mention(&shown, &["everyone", "here", "channel"], at);
    // link targets too: `@` after a host is percent-encoded
    assert_no_mass_mention(text, &["everyone", "here", "channel"], at);
}

/// `text` with Slack date tokens (`<!date^…|…>`) taken out.
fn without_dates(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("<!date^") {
        out.push_str(&rest[..i]);
        match rest[i..].find('>') {
            Some(j) => rest = &rest[i + j + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// No `@everyone` / `@here` without the zero-width space after `@` in what
/// the reader sees, and no `<@…>`, `<#…>` whose `<` is not escaped.
fn assert_discord_inert(text: &str, at: &str) {
    let shown = shown_text(Platform::Discord, text, at);
    assert_no_mass_mention(&shown, &["everyone", "here"], at);
    assert_no_mass_mention(text, &["everyone", "here"], at);
    for live in ["<@", "<#"] {
        for (i, _) in text.match_indices(live) {
            assert!(
                i > 0 && text.as_bytes()[i - 1] == b'\\',
                "live Discord mention {live:?} at {i}: {at}"
            );
        }
    }
}

/// `text` as the reader sees it: the targets of labelled links (Slack
/// `<url|label>`, Discord `[label](<url>)`) taken out, since no client reads
/// mentions or markup there. Each target is checked on the way: an
/// absolute http(s) URL with nothing that could end the link markup early.
fn shown_text(platform: Platform, text: &str, at: &str) -> String {
    let check_target = |url: &str| {
        assert!(
            url.starts_with("https://") || url.starts_with("http://"),
            "link target {url:?} is not http(s): {at}"
        );
        assert!(
            !url.contains(|c: char| c.is_whitespace() || "<>|()[]`\\\"".contains(c)),
            "link target {url:?} could break its markup: {at}"
        );
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    match platform {
        Platform::Slack => {
            // Payload `<` is always escaped: every raw `<…>` is our markup.
            while let Some(open) = rest.find('<') {
                out.push_str(&rest[..open]);
                let inner_end = rest[open..].find('>').map(|i| open + i);
                let Some(close) = inner_end else {
                    panic!("unclosed Slack link: {at}");
                };
                let inner = &rest[open + 1..close];
                match inner.split_once('|') {
                    Some((url, label)) => {
                        check_target(url);
                        out.push_str(label);
                    }
                    None => {
                        check_target(inner);
                        out.push_str(inner);
                    }
                }
                rest = &rest[close + 1..];
            }
        }
        _ => {
            while let Some(open) = rest.find("](<") {
                out.push_str(&rest[..=open]);
                let Some(close) = rest[open..].find(">)").map(|i| open + i) else {
                    panic!("unclosed Discord link: {at}");
                };
                check_target(&rest[open + 3..close]);
                rest = &rest[close + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn assert_no_mass_mention(text: &str, words: &[&str], at: &str) {
    let lower = text.to_lowercase();
    for w in words {
        assert!(
            !lower.contains(&format!("@{w}")),
            "live @{w} (no zero-width space after @): {at}"
        );
    }
}

#[test]
fn github_fixtures() {
    snapshot_dir("github", "github");
}

#[test]
fn gitea_fixtures() {
    snapshot_dir("gitea", "gitea");
}

#[test]
fn gogs_fixtures() {
    snapshot_dir("gogs", "gogs");
}

#[test]
fn gitlab_fixtures() {
    snapshot_dir("gitlab", "gitlab");
}

#[test]
fn huggingface_fixtures() {
    snapshot_dir("huggingface", "huggingface");
}

#[test]
fn huggingface_assembled_fixtures() {
    snapshot_dir("huggingface", "huggingface/assembled");
}

// -------------------------------------------------------- hostile payloads

/// Every way payload text could try to ping, format or link.
const HOSTILE: &str = "@everyone @here @channel <!channel> <!here> <!everyone> <@U123> <@123> <@!123> <@&456> <#789> *bold* **bold** _it_ ~strike~ [click](https://evil.example) <https://evil.example|click> ` ``` > quote";

fn github_headers(event: &str) -> Vec<(String, String)> {
    vec![
        ("X-GitHub-Event".into(), event.into()),
        ("Content-Type".into(), "application/json".into()),
    ]
}

fn repo_json() -> Value {
    json!({
        "full_name": "acme/api",
        "name": "api",
        "html_url": "https://github.com/acme/api",
        "owner": {"login": "acme"}
    })
}

fn pr_opened(title: &str, body: &str, login: &str) -> Vec<u8> {
    json!({
        "action": "opened",
        "number": 7,
        "pull_request": {
            "number": 7,
            "title": title,
            "body": body,
            "html_url": "https://github.com/acme/api/pull/7",
            "user": {"login": login, "html_url": format!("https://github.com/{login}")},
            "base": {"ref": "main"},
            "head": {"ref": "feature"},
            "draft": false,
            "merged": false,
            "additions": 1,
            "deletions": 2,
            "changed_files": 3,
            "commits": 1,
            "labels": [{"name": HOSTILE}]
        },
        "repository": repo_json(),
        "sender": {"login": login, "html_url": format!("https://github.com/{login}")}
    })
    .to_string()
    .into_bytes()
}

/// Masked links written in payload text are shown, not made live.
fn assert_no_payload_links(r: &Rendered, at: &str) {
    let slack = r.slack.text();
    assert!(
        !slack.contains("<https://evil.example"),
        "live Slack link from payload: {at}\n{slack}"
    );
    // Discord: a `](` right before the URL is only markup when its `]` is
    // not escaped.
    let discord = r.discord.text();
    for pat in ["](https://evil.example", "](<https://evil.example"] {
        for (i, _) in discord.match_indices(pat) {
            assert!(
                i > 0 && discord.as_bytes()[i - 1] == b'\\',
                "live Discord masked link from payload: {at}\n{discord}"
            );
        }
    }
    assert!(
        !shown_text(Platform::Discord, discord, at).contains("[click]"),
        "{discord}"
    );
}

#[test]
fn hostile_pull_request_text_pings_nobody_and_links_nowhere() {
    let (_tmp, p) = pipeline();
    let body = pr_opened(HOSTILE, HOSTILE, "evil@everyone<!here>");
    let r = prepare(&p, "github", &github_headers("pull_request"), &body);
    assert_eq!(r.kind, "pull_request.opened");
    for m in [&r.slack, &r.discord] {
        check_body(m, "hostile PR");
    }
    assert_no_payload_links(&r, "hostile PR");
    let (slack, discord) = (r.slack.text(), r.discord.text());
    let expected = [
        // The text is still there to read, made harmless.
        (slack, "&lt;!channel&gt;"),
        (slack, "&lt;@U123&gt;"),
        (discord, "\\<@&456"),
        (discord, "\\*\\*bold\\*\\*"),
        (discord, "@\u{200B}everyone"),
        (slack, "@\u{200B}channel"),
        // The links the template makes itself are live.
        (slack, "<https://github.com/acme/api/pull/7|"),
        (discord, "](<https://github.com/acme/api/pull/7>)"),
    ];
    for (text, part) in expected {
        assert!(text.contains(part), "{part:?} missing from:\n{text}");
    }
}

#[test]
fn hundred_kilobyte_title_fits_both_platforms() {
    let (_tmp, p) = pipeline();
    let title = format!("{HOSTILE} {}", "ab <@U1> ".repeat(100 * 1024 / 9));
    assert!(title.len() >= 100 * 1024);
    let body_text = "x".repeat(200_000);
    let body = pr_opened(&title, &body_text, "octocat");
    let r = prepare(&p, "github", &github_headers("pull_request"), &body);
    for m in [&r.slack, &r.discord] {
        check_body(m, "100 KB title");
    }
    assert_no_payload_links(&r, "100 KB title");
    // The title is cut by the template, not the whole message by the limit:
    // who, what and where still read.
    for text in [&r.slack.text(), &r.discord.text()] {
        assert!(text.contains("octocat"), "{text}");
        assert!(text.contains("acme/api"), "{text}");
        assert!(text.contains('…'), "{text}");
    }
}

#[test]
fn push_of_ten_thousand_commits_lists_five() {
    let (_tmp, p) = pipeline();
    let commits: Vec<Value> = (0..10_000)
        .map(|i| {
            json!({
                "id": format!("{i:040x}"),
                "message": format!("commit {i} @here <!channel>\n\nbody"),
                "url": format!("https://github.com/acme/api/commit/{i:040x}"),
                "author": {"name": "Dev <@U1>", "username": "dev"}
            })
        })
        .collect();
    let body = json!({
        "ref": "refs/heads/main",
        "before": "0".repeat(40),
        "after": format!("{:040x}", 9999),
        "compare": "https://github.com/acme/api/compare/a...b",
        "created": false,
        "deleted": false,
        "forced": false,
        "commits": commits,
        "repository": repo_json(),
        "pusher": {"name": "dev"},
        "sender": {"login": "dev", "html_url": "https://github.com/dev"}
    })
    .to_string()
    .into_bytes();
    assert!(body.len() > 1_000_000);
    let r = prepare(&p, "github", &github_headers("push"), &body);
    assert_eq!(r.kind, "push");
    for m in [&r.slack, &r.discord] {
        check_body(m, "10k-commit push");
        let shown = full(&m.card);
        assert!(m.text().contains("10000 commits"), "{shown}");
        assert!(shown.contains("9995 more"), "{shown}");
        assert!(shown.lines().count() < 12, "{shown}");
        // The newest commits are the ones listed.
        assert!(m.card.body.contains("commit 9999 "), "{shown}");
        assert!(!m.card.body.contains("commit 0 "), "{shown}");
    }
}

#[test]
fn missing_repository_and_sender_still_reads() {
    let (_tmp, p) = pipeline();
    let cases: Vec<(&str, Value)> = vec![
        (
            "pull_request",
            json!({"action": "opened", "number": 3,
                   "pull_request": {"number": 3, "title": "Fix it", "html_url": "https://github.com/acme/api/pull/3"}}),
        ),
        (
            "pull_request",
            json!({"action": "closed", "pull_request": {"merged": true}}),
        ),
        ("push", json!({"ref": "refs/heads/main"})),
        ("push", json!({"ref": "refs/tags/v1", "commits": []})),
        ("issues", json!({"action": "opened"})),
        (
            "issue_comment",
            json!({"action": "created", "comment": {"body": "hi"}}),
        ),
        ("release", json!({"action": "published", "release": {}})),
        ("create", json!({"ref": "x", "ref_type": "branch"})),
        ("delete", json!({})),
        ("fork", json!({})),
        ("ping", json!({"zen": "Keep it logically awesome."})),
        ("workflow_run", json!({"action": "completed"})),
        ("star", json!({"action": "created"})),
    ];
    let mut first = None;
    for (event, payload) in cases {
        let body = payload.to_string().into_bytes();
        let r = match prepare_any(&p, "github", &github_headers(event), &body) {
            Ok(r) => r,
            // A branch's `create` is said by its push; a run with no result
            // has nothing to post.
            Err(kind) => {
                assert!(
                    ["create", "delete", "workflow_run"].contains(&event),
                    "{kind} sends nothing"
                );
                continue;
            }
        };
        check_readable(&format!("bare {event}"), &r);
        first.get_or_insert(r);
    }
    // Who is unknown, what and which one still read.
    let r = first.unwrap();
    assert_eq!(
        r.slack.text(),
        "🟢 Someone opened pull request #3 <https://github.com/acme/api/pull/3|Fix it>"
    );
    assert_eq!(
        r.discord.text(),
        "🟢 Someone opened pull request #3 [Fix it](<https://github.com/acme/api/pull/3>)"
    );
    // Gogs and Hub payloads with nothing but their kind.
    let headers = vec![("X-Gogs-Event".to_string(), "push".to_string())];
    let r = prepare(&p, "gogs", &headers, b"{}");
    check_readable("bare gogs push", &r);
    for scope in [
        "discussion",
        "discussion.comment",
        "repo",
        "repo.content",
        "repo.config",
    ] {
        let payload = json!({"event": {"action": "create", "scope": scope}, "webhook": {"id": "1", "version": 3}});
        let body = payload.to_string().into_bytes();
        let r = prepare(&p, "huggingface", &[], &body);
        check_readable(&format!("bare hub {scope}"), &r);
    }
}

#[test]
fn non_ascii_text_survives_intact() {
    let (_tmp, p) = pipeline();
    // Emoji with skin tone and ZWJ, a flag, CJK, Hebrew and Arabic, combining
    // marks; plus a right-to-left override that must not survive.
    let title = "🚀 👩🏽‍💻 🇯🇵 修复登录问题 תיקון באג إصلاح e\u{301}te\u{301} Z\u{0351}\u{0352}algo \u{202E}gnp.exe";
    let login = "José-Łukasz_李";
    let body = pr_opened(title, "本文 — تفاصيل", login);
    let r = prepare(&p, "github", &github_headers("pull_request"), &body);
    for m in [&r.slack, &r.discord] {
        check_body(m, "non-ASCII");
        let text = &full(&m.card);
        for part in [
            "🚀",
            "👩🏽‍💻",
            "🇯🇵",
            "修复登录问题",
            "תיקון באג",
            "إصلاح",
            "e\u{301}te\u{301}",
            "Z\u{0351}\u{0352}algo",
            "gnp.exe",
            "José-Łukasz",
            "本文 — تفاصيل",
        ] {
            assert!(text.contains(part), "{part:?} lost: {text}");
        }
        assert!(!text.contains('\u{202E}'), "bidi override kept: {text}");
    }
    // A long non-ASCII title is cut at a character, not inside a grapheme.
    let long = "👩🏽‍💻e\u{301}".repeat(5_000);
    let body = pr_opened(&long, &long, "octocat");
    let r = prepare(&p, "github", &github_headers("pull_request"), &body);
    for m in [&r.slack, &r.discord] {
        check_body(m, "long non-ASCII");
        let cut = m.text().find('…').expect("title was cut");
        let before = m.text()[..cut].trim_end();
        assert!(
            before.ends_with("👩🏽‍💻e\u{301}") || before.ends_with("👩🏽‍💻"),
            "cut inside a grapheme: {:?}",
            &before[before.len().saturating_sub(40)..]
        );
    }
}

/// A pull request with hostile text in every field the templates read: 60
/// labels, a 100 KB Markdown description, markup and mentions in title,
/// names, branches, reviewer and labels, a `javascript:` avatar.
fn hostile_everywhere() -> Vec<u8> {
    let md_block = format!(
        "# {HOSTILE}\n\n<!-- a PR template comment -->\n\n- [x] {HOSTILE}\n- [ ] item\n\n| a | b |\n|---|---|\n| {HOSTILE} | 2 |\n\n![img](https://x.example/i.png)\n\n```\n{HOSTILE}\n```\n\n> {HOSTILE}\n\n"
    );
    let body = md_block.repeat(100 * 1024 / md_block.len() + 1);
    assert!(body.len() >= 100 * 1024);
    let login = format!("evil{HOSTILE}");
    json!({
        "action": "review_requested",
        "number": 7,
        "pull_request": {
            "number": 7,
            "title": HOSTILE,
            "body": body,
            "html_url": "https://github.com/acme/api/pull/7",
            "user": {"login": login, "avatar_url": "javascript:alert(1)"},
            "base": {"ref": HOSTILE},
            "head": {"ref": format!("{HOSTILE}\nsecond line")},
            "draft": false,
            "merged": false,
            "state": "open",
            "additions": 1,
            "deletions": 2,
            "changed_files": 3,
            "commits": 1,
            "updated_at": "2026-01-02T03:04:05Z",
            "labels": (0..60).map(|i| json!({"name": format!("{i} {HOSTILE}")})).collect::<Vec<_>>()
        },
        "requested_reviewer": {"login": HOSTILE},
        "repository": repo_json(),
        "sender": {"login": login, "html_url": format!("https://github.com/{login}"), "avatar_url": "javascript:alert(1)"}
    })
    .to_string()
    .into_bytes()
}

#[test]
fn hostile_text_in_every_field_stays_inert_and_within_every_limit() {
    let (_tmp, p) = pipeline();
    let body = hostile_everywhere();
    for event in ["pull_request"] {
        let r = prepare(&p, "github", &github_headers(event), &body);
        assert_eq!(r.kind, "pull_request.review_requested");
        for m in [&r.slack, &r.discord] {
            check_body(m, "hostile everywhere");
            let card = &m.card;
            // The bad avatar is dropped; names stay on one line.
            assert!(card.author.icon.is_empty(), "{:?}", card.author);
            assert!(!card.title.contains('\n') && !card.author.name.contains('\n'));
            for f in &card.fields {
                assert!(!f.name.contains('\n'), "{f:?}");
            }
            // Ten labels, then how many more.
            let labels = card.fields.iter().find(|f| f.name == "Labels").unwrap();
            assert!(labels.value.contains("and 50 more"), "{}", labels.value);
        }
        assert_no_payload_links(&r, "hostile everywhere");
    }
    // The description is converted, not shown raw: no HTML comment, no
    // image, checklists and tables readable.
    let r = prepare(
        &p,
        "github",
        &github_headers("pull_request"),
        &pr_opened(
            HOSTILE,
            &String::from_utf8(hostile_everywhere()).unwrap(),
            "octocat",
        ),
    );
    for m in [&r.slack, &r.discord] {
        check_body(m, "hostile description");
    }
}

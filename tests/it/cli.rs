//! The binary as an operator runs it: `check` and `render`, exit codes and
//! messages.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::*;

fn hookbridge(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookbridge"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("HOOKBRIDGE_CONFIG")
        .env_remove("WEBHOOK_SECRET")
        .env_remove("SLACK_BOT_TOKEN")
        .env_remove("DISCORD_WEBHOOK_URL")
        .env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run hookbridge")
}

fn repo_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn out(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn check_the_shipped_config() {
    let o = hookbridge(repo_dir(), &["check"], &[("WEBHOOK_SECRET", "x")]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("POST /hooks/github"), "{stdout}");
    assert!(stdout.contains("-> console"), "{stdout}");
    assert!(stdout.contains("templates: ok"), "{stdout}");
    // no secret is ever printed
    let o = hookbridge(
        repo_dir(),
        &["check"],
        &[("WEBHOOK_SECRET", "very-secret-value")],
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("very-secret-value"));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("very-secret-value"));
}

#[test]
fn check_names_a_missing_variable() {
    let o = hookbridge(repo_dir(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("bridge.toml:"), "{stderr}");
    assert!(stderr.contains("WEBHOOK_SECRET"), "{stderr}");
    assert!(stderr.contains("fix:"), "{stderr}");
}

#[test]
fn check_points_at_the_broken_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bridge.toml"),
        "[sources.gh]\nkind = \"github\"\nallow_unsigned = true\n\n[sinks.c]\nkind = \"stdout\"\n\n[[routes]]\nto = [\"slack-team\"]\n",
    )
    .unwrap();
    let o = hookbridge(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("bridge.toml:9"), "{stderr}");
    assert!(stderr.contains("routes[0].to"), "{stderr}");
    assert!(stderr.contains("no sink named `slack-team`"), "{stderr}");

    // `serve` refuses it with the same words, said once
    for cmd in ["check", "serve"] {
        let o = hookbridge(dir.path(), &[cmd], &[]);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {}", out(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            stderr.matches("no sink named `slack-team`").count(),
            1,
            "{cmd}: {stderr}"
        );
    }

    // a missing file is exit 1 too, naming the file
    let o = hookbridge(dir.path(), &["check", "--config", "nope.toml"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope.toml"));
}

#[test]
fn usage_errors_exit_2() {
    let o = hookbridge(repo_dir(), &["frobnicate"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    let o = hookbridge(repo_dir(), &["render", "--source", "github"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
}

#[test]
fn render_shows_each_target_and_its_exact_body() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bridge.toml"),
        r##"
[sources.github]
kind = "github"
allow_unsigned = true

[sinks.team-slack]
kind = "slack"
token = "xoxb-not-real"

[sinks.ml-discord]
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/abc"

[[routes]]
events = ["pull_request"]
to = ["team-slack:#eng", "ml-discord"]

[[routes]]
events = ["push"]
branches = ["main"]
to = ["team-slack:#pushes"]
"##,
    )
    .unwrap();
    let payload = fixtures_dir().join("github/pull_request.opened.1.json");
    let payload = payload.to_str().unwrap();
    let o = hookbridge(
        dir.path(),
        &[
            "render",
            "--source",
            "github",
            "--payload",
            payload,
            "--json",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2, "{v:#}");
    assert_eq!(arr[0]["sink"], "team-slack");
    assert_eq!(arr[0]["platform"], "slack");
    assert_eq!(arr[0]["channel"], "#eng");
    assert_eq!(arr[0]["body"]["channel"], "#eng");
    assert!(arr[0]["body"]["text"].as_str().unwrap().len() > 10);
    assert_eq!(arr[1]["sink"], "ml-discord");
    assert_eq!(
        arr[1]["body"]["allowed_mentions"]["parse"],
        serde_json::json!([])
    );
    assert!(arr[1]["body"]["content"].as_str().unwrap().len() > 10);
    // tokens never appear
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        !text.contains("xoxb-not-real") && !text.contains("/abc"),
        "{text}"
    );

    // the human form names each target and shows the message
    let o = hookbridge(
        dir.path(),
        &["render", "--source", "github", "--payload", payload],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("=== team-slack:#eng (slack"), "{text}");
    assert!(text.contains("=== ml-discord (discord"), "{text}");

    // a push to a branch no route takes: nothing, said on stderr, exit 0
    let payload = fixtures_dir().join("github/push.1.json");
    let o = hookbridge(
        dir.path(),
        &[
            "render",
            "--source",
            "github",
            "--payload",
            payload.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no route matches"),
        "{}",
        out(&o)
    );

    // unknown source and unreadable payload: exit 1 with the reason
    let o = hookbridge(
        dir.path(),
        &[
            "render",
            "--source",
            "gitlab",
            "--payload",
            payload.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no source named `gitlab`"));
    let o = hookbridge(
        dir.path(),
        &["render", "--source", "github", "--payload", "missing.json"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing.json"));
}

#[test]
fn check_and_serve_refuse_a_misspelt_template_set_or_templates_dir() {
    let dir = tempfile::tempdir().unwrap();
    let base = "[sources.gh]\nkind = \"github\"\nallow_unsigned = true\n[sinks.c]\nkind = \"stdout\"\n\n[[routes]]\nto = [\"c\"]\n";
    std::fs::write(
        dir.path().join("bridge.toml"),
        format!("{base}template = \"compactt\"\n"),
    )
    .unwrap();
    let serve: &[&str] = &["serve", "--listen", "127.0.0.1:0"];
    for args in [&["check"][..], serve] {
        let cmd = args[0];
        let o = hookbridge(dir.path(), args, &[]);
        assert_eq!(o.status.code(), Some(1), "{cmd}: {}", out(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("bridge.toml:7"), "{cmd}: {stderr}");
        assert!(
            stderr.contains("no template set named `compactt` (sets: compact, default)"),
            "{cmd}: {stderr}"
        );
    }
    // the set the operator meant is taken
    std::fs::write(
        dir.path().join("bridge.toml"),
        format!("{base}template = \"compact\"\n"),
    )
    .unwrap();
    let o = hookbridge(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // a set only the operator's templates define is taken too
    std::fs::create_dir_all(dir.path().join("templates/plain/mine")).unwrap();
    std::fs::write(
        dir.path().join("templates/plain/mine/push.hbs"),
        "pushed {{event.branch}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bridge.toml"),
        format!("{base}template = \"mine\"\n"),
    )
    .unwrap();
    let o = hookbridge(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));

    // a templates directory named on purpose must exist
    std::fs::write(
        dir.path().join("bridge.toml"),
        format!("[templates]\ndir = \"nope\"\n{base}"),
    )
    .unwrap();
    let o = hookbridge(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("bridge.toml:2"), "{stderr}");
    assert!(stderr.contains("templates.dir"), "{stderr}");
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

#[test]
fn check_names_a_broken_template_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bridge.toml"),
        "[sources.gh]\nkind = \"github\"\nallow_unsigned = true\n[sinks.c]\nkind = \"stdout\"\n[[routes]]\nto = [\"c\"]\n",
    )
    .unwrap();
    let t = dir.path().join("templates/slack/default");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(
        t.join("push.hbs"),
        "pushed to {{event.branch}}\n{{#if event.commits}}\nunclosed\n",
    )
    .unwrap();
    let o = hookbridge(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("push.hbs"), "{stderr}");
    assert!(
        stderr.contains(":2") || stderr.contains(":3") || stderr.contains(":4"),
        "{stderr}"
    );

    // an unknown helper is caught by check even though it compiles
    std::fs::write(t.join("push.hbs"), "pushed {{shout event.branch}}\n").unwrap();
    let o = hookbridge(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("shout"),
        "{}",
        out(&o)
    );

    // and serve refuses to start on a template that does not compile
    std::fs::write(t.join("push.hbs"), "{{#if x}}").unwrap();
    let o = hookbridge(dir.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("push.hbs"),
        "{}",
        out(&o)
    );
}

#[test]
fn the_tools_refuse_a_store_only_the_new_service_may_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bridge.toml"),
        "[store]\npath = \"old.db\"\n\n[sources.gh]\nkind = \"github\"\nallow_unsigned = true\n\n\
         [sinks.c]\nkind = \"stdout\"\n\n[[routes]]\nto = [\"c\"]\n",
    )
    .unwrap();
    // A store an older hookbridge wrote (schema version 1), whose service
    // may still be running.
    let db = dir.path().join("old.db");
    let raw = rusqlite::Connection::open(&db).unwrap();
    raw.execute_batch("CREATE TABLE outbox (id INTEGER PRIMARY KEY, body TEXT NOT NULL); PRAGMA user_version = 1;")
        .unwrap();
    drop(raw);

    for args in [&["deliveries"][..], &["replay", "--dead"][..]] {
        let o = hookbridge(dir.path(), args, &[]);
        assert_eq!(o.status.code(), Some(1), "{}", out(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("old.db"), "{stderr}");
        assert!(stderr.contains("older than this binary"), "{stderr}");
        assert!(stderr.contains("hookbridge serve"), "{stderr}");
    }
    let version: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 1, "the file was left as it was");
}

#[test]
fn logs_to_a_pipe_or_file_carry_no_colour_codes() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // stderr is a pipe here, as under systemd or `2>file`: plain text.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hookbridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store", ":memory:"])
        .current_dir(repo_dir())
        .env_remove("HOOKBRIDGE_CONFIG")
        .env_remove("NO_COLOR")
        .env("WEBHOOK_SECRET", "x")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hookbridge serve");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Lines until the service listens (or 30 s, or its stderr closes).
    let mut seen = String::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(30)) {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("hookbridge listening") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen.contains("hookbridge listening"), "{seen}");
    assert!(seen.contains(" INFO "), "{seen}");
    assert!(!seen.contains('\u{1b}'), "escape codes in: {seen:?}");
}

#[test]
fn render_says_a_ping_is_never_posted() {
    let dir = tempfile::tempdir().unwrap();
    // a route taking every event: the ping still goes nowhere, as in `serve`
    std::fs::write(
        dir.path().join("bridge.toml"),
        "[sources.github]\nkind = \"github\"\nallow_unsigned = true\n[sinks.c]\nkind = \"stdout\"\n[[routes]]\nto = [\"c\"]\n",
    )
    .unwrap();
    let payload = fixtures_dir().join("github/ping.1.json");
    let payload = payload.to_str().unwrap();
    let o = hookbridge(
        dir.path(),
        &["render", "--source", "github", "--payload", payload],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(o.stdout.is_empty(), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("never posted"),
        "{}",
        out(&o)
    );
    let o = hookbridge(
        dir.path(),
        &[
            "render",
            "--source",
            "github",
            "--payload",
            payload,
            "--json",
        ],
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
}

#[test]
fn one_service_per_store_and_the_port_before_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        "[store]\npath = \"hb.db\"\n[sources.gh]\nkind = \"github\"\nallow_unsigned = true\n[sinks.c]\nkind = \"stdout\"\n[[routes]]\nto = [\"c\"]\n",
    )
    .unwrap();

    // A port already taken: exit 1, and no store was created or opened.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let o = hookbridge(dir.path(), &["serve", "--listen", &port], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot listen"),
        "{}",
        out(&o)
    );
    assert!(
        !dir.path().join("hb.db").exists(),
        "store created before the port"
    );

    // The tools never create a store: a wrong config is said, not listed empty.
    for args in [&["deliveries"][..], &["replay", "--dead"]] {
        let o = hookbridge(dir.path(), args, &[]);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", out(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("no store at"),
            "{args:?}: {}",
            out(&o)
        );
        assert!(
            !dir.path().join("hb.db").exists(),
            "{args:?} created a store"
        );
    }

    // A second service on the same store is refused while the first runs.
    let first = Proc::serve(&config, &[], &[]);
    let o = hookbridge(dir.path(), &["serve", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("another `hookbridge serve` is using the store"),
        "{}",
        out(&o)
    );
    // The tools still work beside the running service.
    let o = hookbridge(dir.path(), &["deliveries"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    drop(first);
    // Once it is gone, the store is free again.
    let again = Proc::serve(&config, &[], &[]);
    drop(again);
}

#[test]
fn render_says_when_the_template_renders_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bridge.toml"),
        "[sources.github]\nkind = \"github\"\nallow_unsigned = true\n[sinks.c]\nkind = \"stdout\"\n[[routes]]\nto = [\"c\"]\n",
    )
    .unwrap();
    // GitHub's `delete` of a branch: its push says it, so this one is silent.
    let payload = fixtures_dir().join("github/delete.1.json");
    let payload = payload.to_str().unwrap();
    let o = hookbridge(
        dir.path(),
        &["render", "--source", "github", "--payload", payload],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("=== c")
            && stdout.contains("renders nothing for this event; nothing is sent"),
        "{}",
        out(&o)
    );
    // `--json` shows the bodies that would be posted: none.
    let o = hookbridge(
        dir.path(),
        &[
            "render",
            "--source",
            "github",
            "--payload",
            payload,
            "--json",
        ],
        &[],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "[]",
        "{}",
        out(&o)
    );
    // The push of the same deletion is the message.
    let push = fixtures_dir().join("github/push.2.json");
    let o = hookbridge(
        dir.path(),
        &[
            "render",
            "--source",
            "github",
            "--payload",
            push.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("deleted branch feature"), "{}", out(&o));
}

/// `check` marks the routes that thread, and explains each target whose
/// sink cannot thread (its messages post top-level).
#[test]
fn check_shows_which_routes_thread_and_why_a_sink_cannot() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bridge.toml"),
        r##"
[sources.github]
kind = "github"
allow_unsigned = true

[sinks.bot]
kind = "slack"
token = "xoxb-not-real"

[sinks.hook]
kind = "slack"
webhook_url = "https://hooks.slack.com/services/T/B/x"

[[routes]]
events = ["pull_request"]
to = ["bot:#eng", "hook"]
thread = true
broadcast = true

[[routes]]
events = ["push"]
to = ["bot:#eng"]
"##,
    )
    .unwrap();
    let o = hookbridge(dir.path(), &["check"], &[]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let threaded = lines
        .iter()
        .position(|l| l.contains("-> bot:#eng, hook"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(lines[threaded].ends_with("threads, broadcast"), "{text}");
    assert!(
        lines[threaded + 1].contains("note: hook posts top-level, not in threads")
            && lines[threaded + 1].contains("Slack incoming webhook cannot thread"),
        "{text}"
    );
    let plain = lines
        .iter()
        .position(|l| {
            l.trim_start().starts_with("-> bot:#eng ")
                || l.trim_end()
                    .ends_with("-> bot:#eng   template set: default")
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(!lines[plain].contains("threads"), "{text}");
}

use super::*;
use std::time::Duration;

fn env(k: &str) -> Option<String> {
    match k {
        "GH_SECRET" => Some("s3cret".into()),
        "SLACK_BOT_TOKEN" => Some("xoxb-1".into()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_str_with_env(text, Path::new("bridge.toml"), &env)
}

fn err(text: &str) -> String {
    load(text).unwrap_err().to_string()
}

const GOOD: &str = r#"
[server]
listen = "127.0.0.1:0"

[delivery]
timeout = "3s"

[sources.github]
kind = "github"
secret = "${GH_SECRET}"

[sinks.team-slack]
kind = "slack"
token = "${SLACK_BOT_TOKEN}"

[sinks.console]
kind = "stdout"

[[routes]]
repos = ["acme/*"]
events = ["push"]
to = ["team-slack:#eng", "console", "console"]
"#;

#[test]
fn a_good_config_loads() {
    let c = load(GOOD).unwrap();
    assert_eq!(c.server.listen.port(), 0);
    assert_eq!(c.delivery.timeout, Duration::from_secs(3));
    assert_eq!(c.delivery.max_age, Duration::from_secs(86400));
    assert_eq!(c.sources["github"].secrets[0].expose(), "s3cret");
    assert_eq!(c.routes.len(), 1);
    // duplicate targets collapse
    assert_eq!(c.routes[0].to.len(), 2);
    assert_eq!(c.routes[0].to[0].to_string(), "team-slack:#eng");
    assert_eq!(c.templates_dir, Path::new("./templates"));
}

#[test]
fn secrets_never_show_in_debug() {
    let c = load(GOOD).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("s3cret"));
    assert!(!dbg.contains("xoxb-1"));
}

#[test]
fn missing_variable_is_named_with_its_line() {
    let e = err(GOOD.replace("${GH_SECRET}", "${NOPE}").as_str());
    assert!(e.starts_with("bridge.toml:10:"), "{e}");
    assert!(e.contains("`NOPE` is not set"), "{e}");
}

#[test]
fn variable_defaults_apply() {
    let c = load(&GOOD.replace("${GH_SECRET}", "${NOPE:-fallback}")).unwrap();
    assert_eq!(c.sources["github"].secrets[0].expose(), "fallback");
}

#[test]
fn unknown_keys_are_refused() {
    let e = err(&GOOD.replace("timeout = \"3s\"", "timeout = \"3s\"\nretries = 3"));
    assert!(e.contains("bridge.toml:7"), "{e}");
    assert!(e.contains("retries"), "{e}");
}

#[test]
fn route_to_missing_sink_names_the_fix() {
    let e = err(&GOOD.replace("\"console\", \"console\"", "\"nowhere\""));
    assert!(e.contains("routes[0].to"), "{e}");
    assert!(e.contains("no sink named `nowhere`"), "{e}");
    assert!(e.contains("console, team-slack"), "{e}");
    assert!(e.contains("bridge.toml:22"), "{e}");
}

#[test]
fn route_to_missing_source_is_refused() {
    let e = err(&GOOD.replace("repos = [", "sources = [\"gitlab\"]\nrepos = ["));
    assert!(e.contains("no source named `gitlab`"), "{e}");
}

#[test]
fn bad_glob_is_refused() {
    let e = err(&GOOD.replace("acme/*", "ac**me"));
    assert!(e.contains("routes[0].repos"), "{e}");
}

#[test]
fn slack_without_credentials_is_refused() {
    let e = err(&GOOD.replace("token = \"${SLACK_BOT_TOKEN}\"", ""));
    assert!(e.contains("sinks.team-slack"), "{e}");
    assert!(e.contains("bot token or a webhook URL"), "{e}");
}

#[test]
fn bot_token_target_needs_a_channel() {
    let e = err(&GOOD.replace("team-slack:#eng", "team-slack"));
    assert!(e.contains("needs a channel"), "{e}");
}

#[test]
fn source_without_secret_needs_allow_unsigned() {
    let e = err(&GOOD.replace("secret = \"${GH_SECRET}\"", ""));
    assert!(e.contains("no secret"), "{e}");
    assert!(e.contains("allow_unsigned"), "{e}");
    let c = load(&GOOD.replace("secret = \"${GH_SECRET}\"", "allow_unsigned = true")).unwrap();
    assert!(c.sources["github"].secrets.is_empty());
}

#[test]
fn bad_listen_address_is_refused() {
    let e = err(&GOOD.replace("127.0.0.1:0", "localhost"));
    assert!(e.contains("server.listen"), "{e}");
    assert!(e.contains("bridge.toml:3"), "{e}");
}

#[test]
fn unknown_kinds_are_refused() {
    assert!(
        err(&GOOD.replace("kind = \"github\"", "kind = \"bitbucket\"")).contains("github | gitea")
            || err(&GOOD.replace("kind = \"github\"", "kind = \"bitbucket\""))
                .contains("unknown source kind")
    );
    assert!(
        err(&GOOD.replace("kind = \"stdout\"", "kind = \"teams\"")).contains("unknown sink kind")
    );
}

#[test]
fn bad_durations_are_refused() {
    let e = err(&GOOD.replace("\"3s\"", "\"soon\""));
    assert!(e.contains("delivery.timeout"), "{e}");
}

#[test]
fn several_secrets_for_rotation() {
    let c = load(&GOOD.replace(
        "secret = \"${GH_SECRET}\"",
        "secrets = [\"${GH_SECRET}\", \"old\"]",
    ))
    .unwrap();
    assert_eq!(c.sources["github"].secrets.len(), 2);
}

#[test]
fn target_parsing() {
    assert_eq!(Target::parse("a").channel, None);
    assert_eq!(Target::parse("a:#b").channel.as_deref(), Some("#b"));
}

#[test]
fn sinks_with_optional_empty_credentials_are_disabled() {
    let c = load(&GOOD.replace("${SLACK_BOT_TOKEN}", "${NO_SLACK:-}")).unwrap();
    assert_eq!(c.disabled_sinks, vec!["team-slack".to_string()]);
    assert!(!c.sinks.contains_key("team-slack"));
    assert_eq!(c.routes[0].to.len(), 1);
    assert_eq!(c.routes[0].to[0].sink, "console");
    // without the `:-` the missing variable is still an error
    assert!(err(&GOOD.replace("${SLACK_BOT_TOKEN}", "${NO_SLACK}")).contains("NO_SLACK"));
}

#[test]
fn credentials_empty_without_opting_out_are_errors() {
    let env = |k: &str| match k {
        "GH_SECRET" => Some("s3cret".to_string()),
        "SLACK_BOT_TOKEN" => Some(String::new()),
        _ => None,
    };
    // a variable set but empty: the sink is not quietly switched off
    let e = Config::from_str_with_env(GOOD, Path::new("bridge.toml"), &env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bridge.toml:14"), "{e}");
    assert!(e.contains("sinks.team-slack.token"), "{e}");
    assert!(e.contains("`SLACK_BOT_TOKEN` is set but empty"), "{e}");
    assert!(e.contains("${SLACK_BOT_TOKEN:-}"), "{e}");
    // a literal empty string
    let e = err(&GOOD.replace("\"${SLACK_BOT_TOKEN}\"", "\"\""));
    assert!(
        e.contains("sinks.team-slack.token") && e.contains("the credential is empty"),
        "{e}"
    );
    // the opt-out form with the variable set but empty still opts out
    let c = Config::from_str_with_env(
        &GOOD.replace("${SLACK_BOT_TOKEN}", "${SLACK_BOT_TOKEN:-}"),
        Path::new("bridge.toml"),
        &env,
    )
    .unwrap();
    assert_eq!(c.disabled_sinks, vec!["team-slack".to_string()]);
    // one credential empty beside a working one: the working one is used
    let c = load(
        &GOOD
            .replace(
                "token = \"${SLACK_BOT_TOKEN}\"",
                "token = \"${NO_TOKEN:-}\"\nwebhook_url = \"https://hooks.slack.com/services/T/B/x\"",
            )
            .replace("team-slack:#eng", "team-slack"),
    )
    .unwrap();
    assert!(c.sinks.contains_key("team-slack"));
    assert!(c.disabled_sinks.is_empty());
}

#[test]
fn parse_errors_name_the_key() {
    let e = err(&GOOD.replace("timeout = \"3s\"", "timeout = \"3s\"\nmax_age = 5"));
    assert!(e.contains("`delivery.max_age`"), "{e}");
    let e = err(&GOOD.replace(
        "listen = \"127.0.0.1:0\"",
        "listen = \"127.0.0.1:0\"\nmax_body_bytes = \"big\"",
    ));
    assert!(e.contains("bridge.toml:4: `server.max_body_bytes`"), "{e}");
    // a missing field: the table it is missing from
    let e = err(&GOOD.replace("kind = \"stdout\"\n", ""));
    assert!(e.contains("`sinks.console`") && e.contains("kind"), "{e}");
    // the second route
    let e = err(&format!(
        "{GOOD}\n[[routes]]\nevents = \"push\"\nto = [\"console\"]\n"
    ));
    assert!(e.contains("`routes[1].events`"), "{e}");
    assert!(e.contains("docs/configuration.md"), "{e}");
    // headers with spaces, quotes and comments
    let e = err(&format!(
        "{}\n[[ routes ]] # the second\nevents = \"push\"\nto = [\"console\"]\n",
        GOOD.replace("[sinks.console]", "[sinks.\"console\"] # prints")
    ));
    assert!(e.contains("`routes[1].events`"), "{e}");
}

#[test]
fn an_unreadable_file_keeps_the_io_error_as_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let e = Config::load(&missing).unwrap_err();
    let ConfigError::Io { file, source } = &e else {
        panic!("expected an I/O error, got {e:?}");
    };
    assert_eq!(file, &missing.display().to_string());
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    let why = source.to_string();
    let via_source = std::error::Error::source(&e).map(ToString::to_string);
    assert_eq!(via_source.as_deref(), Some(why.as_str()));
    assert!(e.to_string().contains("cannot read"), "{e}");
    // a chain printer says why, once
    let chained = format!("{:#}", anyhow::Error::new(e));
    assert_eq!(chained.matches(&why).count(), 1, "{chained}");
}

#[test]
fn unknown_kinds_name_the_file_line_key_and_the_valid_kinds() {
    let e = err(&GOOD.replace("kind = \"github\"", "kind = \"bitbucket\""));
    assert!(
        e.starts_with("bridge.toml:9: `sources.github.kind`: unknown source kind `bitbucket`"),
        "{e}"
    );
    assert!(
        e.contains("fix: use one of: github, gitea, forgejo, gogs, dagshub, gitlab, huggingface"),
        "{e}"
    );
    let e = err(&GOOD.replace("kind = \"stdout\"", "kind = \"teams\""));
    assert!(
        e.starts_with("bridge.toml:17: `sinks.console.kind`: unknown sink kind `teams`"),
        "{e}"
    );
    assert!(e.contains("fix: use one of: slack, discord, stdout"), "{e}");
    // not a string at all
    let e = err(&GOOD.replace("kind = \"stdout\"", "kind = 3"));
    assert!(e.starts_with("bridge.toml:17: `sinks.console.kind`"), "{e}");
    assert!(e.contains("use one of: slack, discord, stdout"), "{e}");
}

/// GOOD with its `[delivery]` body replaced by `body`.
fn with_delivery(body: &str) -> String {
    GOOD.replace("timeout = \"3s\"", body)
}

#[test]
fn an_absurd_max_age_is_refused_with_its_line_range_and_fix() {
    // `3000000000000h` parses as a std Duration, but overflows the store's
    // i64 milliseconds and made every message dead without a send.
    let e = err(&with_delivery(
        "timeout = \"3s\"\nmax_age = \"3000000000000h\"",
    ));
    assert_eq!(
        e,
        "bridge.toml:7: `delivery.max_age`: `3000000000000h` is out of range: it must be from 1s to 365d\n  fix: write a duration from 1s to 365d, e.g. \"24h\" (a message not delivered by then is given up)"
    );
    // the same through a variable
    let e = err(&with_delivery("max_age = \"${NOPE:-3000000000000h}\""));
    assert!(
        e.starts_with("bridge.toml:6: `delivery.max_age`: `3000000000000h` is out of range"),
        "{e}"
    );
    // and for every other duration key
    for key in ["timeout", "min_interval"] {
        let e = err(&with_delivery(&format!("{key} = \"3000000000000h\"")));
        assert!(
            e.starts_with(&format!("bridge.toml:6: `delivery.{key}`"))
                && e.contains("out of range"),
            "{e}"
        );
    }
}

#[test]
fn zero_is_refused_except_for_min_interval() {
    let e = err(&with_delivery("timeout = \"0s\""));
    assert!(
        e.starts_with(
            "bridge.toml:6: `delivery.timeout`: `0s` is out of range: it must be from 1s to 10m"
        ),
        "{e}"
    );
    assert!(
        e.contains("fix: write a duration from 1s to 10m, e.g. \"10s\""),
        "{e}"
    );
    let e = err(&with_delivery("max_age = \"0s\""));
    assert!(
        e.starts_with(
            "bridge.toml:6: `delivery.max_age`: `0s` is out of range: it must be from 1s to 365d"
        ),
        "{e}"
    );
    // zero pacing: send as fast as the platform answers
    let c = load(&with_delivery("min_interval = \"0s\"")).unwrap();
    assert_eq!(c.delivery.min_interval, Some(Duration::ZERO));
}

/// A duration key, values it takes (with what they parse to) and values it
/// refuses as out of range.
type BoundsCase = (
    &'static str,
    &'static [(&'static str, Duration)],
    &'static [&'static str],
);

#[test]
fn durations_are_accepted_up_to_their_bounds_and_no_further() {
    const CASES: &[BoundsCase] = &[
        (
            "timeout",
            &[
                ("1s", Duration::from_secs(1)),
                ("10m", Duration::from_secs(600)),
            ],
            &["999ms", "10m 1ms", "1h"],
        ),
        (
            "max_age",
            &[
                ("1s", Duration::from_secs(1)),
                ("365d", Duration::from_secs(365 * 86400)),
            ],
            &["999ms", "365d 1ms", "366d", "2years"],
        ),
        (
            "min_interval",
            &[("0s", Duration::ZERO), ("10m", Duration::from_secs(600))],
            &["10m 1ms", "1d"],
        ),
    ];
    for (key, good, bad) in CASES {
        for (text, want) in *good {
            let c = load(&with_delivery(&format!("{key} = \"{text}\"")))
                .unwrap_or_else(|e| panic!("{key} = {text}: {e}"));
            let got = match *key {
                "timeout" => c.delivery.timeout,
                "max_age" => c.delivery.max_age,
                _ => c.delivery.min_interval.unwrap(),
            };
            assert_eq!(got, *want, "{key} = {text}");
        }
        for text in *bad {
            let e = err(&with_delivery(&format!("{key} = \"{text}\"")));
            assert!(
                e.starts_with(&format!(
                    "bridge.toml:6: `delivery.{key}`: `{text}` is out of range"
                )),
                "{key} = {text}: {e}"
            );
        }
    }
}

#[test]
fn a_duration_too_large_to_parse_names_the_range() {
    let e = err(&with_delivery("timeout = \"99999999999999999999h\""));
    assert!(e.starts_with("bridge.toml:6: `delivery.timeout`"), "{e}");
    assert!(e.contains("is not a duration"), "{e}");
    assert!(
        e.contains("fix: write a number with a unit, from 1s to 10m"),
        "{e}"
    );
}

#[test]
fn every_duration_bound_fits_the_store_and_the_clocks() {
    use std::time::{Instant, SystemTime};
    for b in duration::ALL {
        // what the config accepts is what it says it accepts
        assert_eq!(
            humantime::parse_duration(b.min_text).unwrap(),
            b.min,
            "{}",
            b.key
        );
        assert_eq!(
            humantime::parse_duration(b.max_text).unwrap(),
            b.max,
            "{}",
            b.key
        );
        // the store keeps ages as i64 milliseconds
        assert!(i64::try_from(b.max.as_millis()).is_ok(), "{}", b.key);
        // the workers add durations to both clocks
        assert!(Instant::now().checked_add(b.max).is_some(), "{}", b.key);
        assert!(SystemTime::now().checked_add(b.max).is_some(), "{}", b.key);
    }
    let keys: Vec<&str> = duration::ALL.iter().map(|b| b.key).collect();
    assert_eq!(
        keys,
        [
            "delivery.timeout",
            "delivery.max_age",
            "delivery.min_interval"
        ]
    );
}

const DB_PASSWORD: &str = "pq-S3cret-9";

/// GOOD with `[store]` written as `store`, and `HOOKBRIDGE_DATABASE_URL`
/// set to `url` (when given).
fn load_store(store: &str, url: Option<&str>) -> Result<Config, ConfigError> {
    let text = GOOD.replace("[delivery]", &format!("[store]\n{store}\n\n[delivery]"));
    let url = url.map(str::to_string);
    let env = move |k: &str| match k {
        "HOOKBRIDGE_DATABASE_URL" => url.clone(),
        other => env(other),
    };
    Config::from_str_with_env(&text, Path::new("bridge.toml"), &env)
}

#[test]
fn a_postgres_url_is_read_from_the_environment_and_never_shown() {
    let url = format!("postgres://hb:{DB_PASSWORD}@db.internal:5432/hookbridge?sslmode=require");
    let c = load_store("url = \"${HOOKBRIDGE_DATABASE_URL}\"", Some(&url)).unwrap();
    assert_eq!(c.store.url.as_ref().map(Secret::expose), Some(url.as_str()));
    // `path` keeps its meaning and default
    assert_eq!(c.store.path, "hookbridge.db");
    assert!(!c.store.is_memory());
    let shown = "postgres://hb:***@db.internal:5432/hookbridge?sslmode=require";
    assert_eq!(c.store.redacted_url().as_deref(), Some(shown));
    assert_eq!(c.store.location(), shown);
    for text in [
        format!("{c:?}"),
        format!("{:?}", c.store),
        format!("{:#?}", c),
    ] {
        assert!(!text.contains(DB_PASSWORD), "{text}");
    }
    // libpq's other spelling, and a password given as a query parameter
    let url = format!("postgresql://db.internal/hookbridge?user=hb&password={DB_PASSWORD}");
    let c = load_store("url = \"${HOOKBRIDGE_DATABASE_URL}\"", Some(&url)).unwrap();
    assert_eq!(
        c.store.redacted_url().as_deref(),
        Some("postgresql://db.internal/hookbridge?user=hb&password=***")
    );
    assert!(!format!("{c:?}").contains(DB_PASSWORD));
    // no password: nothing to hide, shown as written
    let c = load_store("url = \"postgres://hb@localhost/hookbridge\"", None).unwrap();
    assert_eq!(
        c.store.redacted_url().as_deref(),
        Some("postgres://hb@localhost/hookbridge")
    );
}

#[test]
fn without_path_or_url_the_store_is_the_default_file() {
    let c = load(GOOD).unwrap();
    assert_eq!(c.store.path, "hookbridge.db");
    assert!(c.store.url.is_none());
    assert_eq!(c.store.redacted_url(), None);
    assert_eq!(c.store.location(), "hookbridge.db");
    let c = load_store("path = \":memory:\"", None).unwrap();
    assert!(c.store.is_memory() && c.store.url.is_none());
}

#[test]
fn store_path_and_url_together_are_refused() {
    let url = format!("postgres://hb:{DB_PASSWORD}@db/hookbridge");
    let e = load_store(
        "path = \"hookbridge.db\"\nurl = \"${HOOKBRIDGE_DATABASE_URL}\"",
        Some(&url),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("bridge.toml:7: `store.url`: `path` and `url` are both set"),
        "{e}"
    );
    assert!(
        e.contains("fix: keep `path` for SQLite, or `url` for PostgreSQL"),
        "{e}"
    );
    assert!(!e.contains(DB_PASSWORD), "{e}");
}

#[test]
fn a_store_url_that_is_not_postgres_is_refused_without_showing_it() {
    let bad = [
        format!("mysql://hb:{DB_PASSWORD}@db/hookbridge"),
        format!("https://hb:{DB_PASSWORD}@db/hookbridge"),
        format!("hb:{DB_PASSWORD}@db/hookbridge"),
        format!("host=db user=hb password={DB_PASSWORD}"),
        String::new(),
        "   ".to_string(),
    ];
    for url in &bad {
        let e = load_store("url = \"${HOOKBRIDGE_DATABASE_URL}\"", Some(url))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("bridge.toml:6: `store.url`: "), "{url}: {e}");
        assert!(
            e.contains("fix: write url = \"${HOOKBRIDGE_DATABASE_URL}\""),
            "{e}"
        );
        assert!(!e.contains(DB_PASSWORD), "{e}");
    }
    // a postgres URL that does not parse: the reason, not the value
    let url = format!("postgres://hb:{DB_PASSWORD}@db:port/hookbridge");
    let e = load_store("url = \"${HOOKBRIDGE_DATABASE_URL}\"", Some(&url))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("bridge.toml:6: `store.url`: is not a valid URL: invalid port number"),
        "{e}"
    );
    assert!(!e.contains(DB_PASSWORD), "{e}");
    // the variable not set at all
    let e = load_store("url = \"${HOOKBRIDGE_DATABASE_URL}\"", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            "bridge.toml:6: `store.url`: environment variable `HOOKBRIDGE_DATABASE_URL` is not set"
        ),
        "{e}"
    );
}

const THREADS: &str = r#"
[sources.github]
kind = "github"
secret = "${GH_SECRET}"

[sinks.bot]
kind = "slack"
token = "${SLACK_BOT_TOKEN}"

[sinks.hook]
kind = "slack"
webhook_url = "https://hooks.slack.com/services/T/B/x"

[sinks.forum]
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/abc"
forum = true

[sinks.text]
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/2/def"

[[routes]]
events = ["pull_request"]
to = ["bot:#eng", "hook", "forum", "text"]
thread = true
broadcast = true

[[routes]]
events = ["push"]
to = ["bot:#eng"]
"#;

#[test]
fn routes_that_thread_name_each_sink_that_cannot() {
    let c = load(THREADS).unwrap();
    assert!(c.routes[0].thread && c.routes[0].broadcast);
    assert!(!c.routes[1].thread && !c.routes[1].broadcast);
    let problems: Vec<(String, &str)> = c.routes[0]
        .thread_problems(&c.sinks)
        .map(|(t, why)| (t.to_string(), why))
        .collect();
    let names: Vec<&str> = problems.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["hook", "text"], "{problems:?}");
    assert!(
        problems[0].1.contains("Slack incoming webhook"),
        "{problems:?}"
    );
    assert!(problems[1].1.contains("forum = true"), "{problems:?}");
    // a route that does not ask for threads has nothing to explain
    assert_eq!(c.routes[1].thread_problems(&c.sinks).count(), 0);
}

#[test]
fn broadcast_needs_thread_and_forum_needs_a_discord_webhook() {
    let e = err(&THREADS.replacen("thread = true\n", "", 1));
    assert!(e.contains("`routes[0].broadcast`"), "{e}");
    assert!(e.contains("fix: add thread = true"), "{e}");
    let e = err(&THREADS.replacen(
        "webhook_url = \"https://hooks.slack.com/services/T/B/x\"",
        "webhook_url = \"https://hooks.slack.com/services/T/B/x\"\nforum = true",
        1,
    ));
    assert!(e.contains("`sinks.hook.forum`"), "{e}");
}

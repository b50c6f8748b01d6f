use super::*;
use crate::event::{Actor, Repo};
use proptest::prelude::*;
use std::path::Path;

const HEAD: &str = r#"
[sources.github]
kind = "github"
allow_unsigned = true

[sources.hub]
kind = "huggingface"
allow_unsigned = true

[sinks.console]
kind = "stdout"

[sinks.slack]
kind = "slack"
webhook_url = "https://hooks.slack.invalid/T/B/x"

[sinks.discord]
kind = "discord"
webhook_url = "https://discord.invalid/api/webhooks/1/x"
"#;

/// A config of `HEAD` followed by `routes` (TOML `[[routes]]` tables).
fn config(routes: &str) -> Config {
    let text = format!("{HEAD}\n{routes}");
    Config::from_str_with_env(&text, Path::new("bridge.toml"), &|_| None)
        .unwrap_or_else(|e| panic!("test config does not load: {e}\n{text}"))
}

/// A config with one route of the given filter lines, sending to `console`.
fn one_route(filters: &str) -> Config {
    config(&format!("[[routes]]\n{filters}\nto = [\"console\"]\n"))
}

/// A push to `acme/api` on `main` by `alice`, from the `github` source.
fn push() -> Event {
    Event {
        source: "github".into(),
        source_kind: "github".into(),
        kind: "push".into(),
        repo: Repo {
            key: "acme/api".into(),
            name: "acme/api".into(),
            ..Repo::default()
        },
        actor: Actor {
            name: "alice".into(),
            ..Actor::default()
        },
        branch: Some("main".into()),
        ..Event::default()
    }
}

/// Rendered targets, for compact assertions.
fn targets(config: &Config, event: &Event) -> Vec<String> {
    route(config, event)
        .iter()
        .map(|d| d.target.to_string())
        .collect()
}

/// Each case: filter lines, a change to the base push event, and whether the
/// route must match.
type Case = (&'static str, fn(&mut Event), bool);

fn run(cases: &[Case]) {
    for (i, (filters, change, want)) in cases.iter().enumerate() {
        let cfg = one_route(filters);
        let mut ev = push();
        change(&mut ev);
        let got = !route(&cfg, &ev).is_empty();
        assert_eq!(
            got, *want,
            "case {i}: route `{filters}` on event {ev:?}: matched={got}"
        );
    }
}

fn same(_: &mut Event) {}

#[test]
fn a_route_without_filters_matches_everything() {
    run(&[("", same, true), ("", |e| *e = Event::default(), true)]);
}

#[test]
fn sources_field() {
    run(&[
        (r#"sources = ["github"]"#, same, true),
        (r#"sources = ["hub", "github"]"#, same, true),
        (r#"sources = ["hub"]"#, same, false),
        (r#"sources = ["hub"]"#, |e| e.source = "hub".into(), true),
        // source names are exact
        (
            r#"sources = ["github"]"#,
            |e| e.source = "GitHub".into(),
            false,
        ),
        (r#"sources = ["github"]"#, |e| e.source.clear(), false),
    ]);
}

#[test]
fn repos_field() {
    run(&[
        (r#"repos = ["acme/api"]"#, same, true),
        (r#"repos = ["acme/*"]"#, same, true),
        (r#"repos = ["other/*", "acme/api"]"#, same, true),
        (r#"repos = ["other/*"]"#, same, false),
        // `*` stays within a segment, `**` crosses `/`
        (
            r#"repos = ["acme/*"]"#,
            |e| e.repo.key = "acme/group/api".into(),
            false,
        ),
        (
            r#"repos = ["acme/**"]"#,
            |e| e.repo.key = "acme/group/api".into(),
            true,
        ),
        (
            r#"repos = ["datasets/**"]"#,
            |e| e.repo.key = "datasets/user/name".into(),
            true,
        ),
        (
            r#"repos = ["datasets/*"]"#,
            |e| e.repo.key = "user/model".into(),
            false,
        ),
        // case-insensitive, both ways
        (r#"repos = ["ACME/Api"]"#, same, true),
        (
            r#"repos = ["acme/*"]"#,
            |e| e.repo.key = "Acme/API".into(),
            true,
        ),
        // no repository: an empty key matches no pattern, not even `**`
        (r#"repos = ["**"]"#, |e| e.repo.key.clear(), false),
        (r#"repos = ["*"]"#, |e| e.repo.key.clear(), false),
        ("", |e| e.repo.key.clear(), true),
    ]);
}

#[test]
fn events_field() {
    run(&[
        (r#"events = ["push"]"#, same, true),
        (r#"events = ["*"]"#, same, true),
        (r#"events = ["pull_request"]"#, same, false),
        (
            r#"events = ["pull_request"]"#,
            |e| e.kind = "pull_request.merged".into(),
            true,
        ),
        (
            r#"events = ["pull_request.merged"]"#,
            |e| e.kind = "pull_request.merged".into(),
            true,
        ),
        (
            r#"events = ["pull_request.opened"]"#,
            |e| e.kind = "pull_request.merged".into(),
            false,
        ),
        // a dotted prefix, not a string prefix
        (
            r#"events = ["pull_request"]"#,
            |e| e.kind = "pull_request_review.submitted".into(),
            false,
        ),
        (
            r#"events = ["repo"]"#,
            |e| e.kind = "repo.content.update".into(),
            true,
        ),
        (
            r#"events = ["repo.con"]"#,
            |e| e.kind = "repo.content.update".into(),
            false,
        ),
        (r#"events = ["issues.opened", "push"]"#, same, true),
        (r#"events = ["*"]"#, |e| e.kind.clear(), true),
        (r#"events = ["push"]"#, |e| e.kind.clear(), false),
    ]);
}

#[test]
fn branches_field() {
    run(&[
        (r#"branches = ["main"]"#, same, true),
        (r#"branches = ["release/*", "main"]"#, same, true),
        (
            r#"branches = ["release/*"]"#,
            |e| e.branch = Some("release/1.0".into()),
            true,
        ),
        (
            r#"branches = ["release/*"]"#,
            |e| e.branch = Some("release/1.0/rc".into()),
            false,
        ),
        (
            r#"branches = ["release/**"]"#,
            |e| e.branch = Some("release/1.0/rc".into()),
            true,
        ),
        (r#"branches = ["dev"]"#, same, false),
        // case-sensitive
        (r#"branches = ["Main"]"#, same, false),
        (
            r#"branches = ["main"]"#,
            |e| e.branch = Some("MAIN".into()),
            false,
        ),
        // no branch: never matches a route that sets branches, even `**`
        (r#"branches = ["**"]"#, |e| e.branch = None, false),
        (r#"branches = ["*"]"#, |e| e.branch = None, false),
        (
            r#"branches = ["*"]"#,
            |e| e.branch = Some(String::new()),
            false,
        ),
        ("", |e| e.branch = None, true),
    ]);
}

#[test]
fn exclude_authors_field() {
    run(&[
        (r#"exclude_authors = ["bob"]"#, same, true),
        (r#"exclude_authors = ["alice"]"#, same, false),
        // case-insensitive
        (r#"exclude_authors = ["ALICE"]"#, same, false),
        // `*[bot]` drops every bot, brackets are literal
        (
            r#"exclude_authors = ["*[bot]"]"#,
            |e| e.actor.name = "dependabot[bot]".into(),
            false,
        ),
        (
            r#"exclude_authors = ["*[bot]"]"#,
            |e| e.actor.name = "Renovate[Bot]".into(),
            false,
        ),
        (r#"exclude_authors = ["*[bot]"]"#, same, true),
        (
            r#"exclude_authors = ["*[bot]"]"#,
            |e| e.actor.name = "bott".into(),
            true,
        ),
        (
            r#"exclude_authors = ["dependabot[bot]"]"#,
            |e| e.actor.name = "renovate[bot]".into(),
            true,
        ),
        (r#"exclude_authors = ["carol", "alice"]"#, same, false),
        (
            r#"exclude_authors = ["*[bot]"]"#,
            |e| e.actor.name.clear(),
            true,
        ),
        // GitLab shows people by display name: the login matches too.
        (
            r#"exclude_authors = ["renovate-bot"]"#,
            |e| {
                e.actor.name = "Renovate Bot".into();
                e.actor.login = "renovate-bot".into();
            },
            false,
        ),
        (
            r#"exclude_authors = ["Renovate Bot"]"#,
            |e| {
                e.actor.name = "Renovate Bot".into();
                e.actor.login = "renovate-bot".into();
            },
            false,
        ),
        (
            r#"exclude_authors = ["bob"]"#,
            |e| e.actor.login = "alice".into(),
            true,
        ),
    ]);
}

#[test]
fn labels_field() {
    run(&[
        (
            r#"labels = ["bug"]"#,
            |e| e.labels = vec!["bug".into()],
            true,
        ),
        (
            r#"labels = ["bug"]"#,
            |e| e.labels = vec!["docs".into(), "bug".into()],
            true,
        ),
        (
            r#"labels = ["bug", "security"]"#,
            |e| e.labels = vec!["security".into()],
            true,
        ),
        (
            r#"labels = ["bug"]"#,
            |e| e.labels = vec!["docs".into()],
            false,
        ),
        // exact, not a prefix or glob
        (
            r#"labels = ["bug"]"#,
            |e| e.labels = vec!["bugfix".into()],
            false,
        ),
        (
            r#"labels = ["bug*"]"#,
            |e| e.labels = vec!["bugfix".into()],
            false,
        ),
        // case-insensitive, including beyond ASCII
        (
            r#"labels = ["Bug"]"#,
            |e| e.labels = vec!["BUG".into()],
            true,
        ),
        (
            r#"labels = ["Ärger"]"#,
            |e| e.labels = vec!["äRGER".into()],
            true,
        ),
        // no labels: a route that sets labels does not match
        (r#"labels = ["bug"]"#, same, false),
        ("", same, true),
    ]);
}

#[test]
fn exclude_labels_field() {
    run(&[
        (r#"exclude_labels = ["wip"]"#, same, true),
        (
            r#"exclude_labels = ["wip"]"#,
            |e| e.labels = vec!["bug".into()],
            true,
        ),
        (
            r#"exclude_labels = ["wip"]"#,
            |e| e.labels = vec!["bug".into(), "wip".into()],
            false,
        ),
        (
            r#"exclude_labels = ["wip"]"#,
            |e| e.labels = vec!["WIP".into()],
            false,
        ),
        (
            r#"exclude_labels = ["wip"]"#,
            |e| e.labels = vec!["wip-ish".into()],
            true,
        ),
        (
            r#"exclude_labels = ["wip", "draft"]"#,
            |e| e.labels = vec!["Draft".into()],
            false,
        ),
        // labels and exclude_labels together: the exclusion wins
        (
            "labels = [\"bug\"]\nexclude_labels = [\"wip\"]",
            |e| e.labels = vec!["bug".into(), "wip".into()],
            false,
        ),
        (
            "labels = [\"bug\"]\nexclude_labels = [\"wip\"]",
            |e| e.labels = vec!["bug".into()],
            true,
        ),
    ]);
}

#[test]
fn every_set_field_must_match() {
    let all = r#"
sources = ["github"]
repos = ["acme/*"]
events = ["pull_request"]
branches = ["main"]
exclude_authors = ["*[bot]"]
labels = ["bug"]
exclude_labels = ["wip"]"#;
    let good = |e: &mut Event| {
        e.kind = "pull_request.opened".into();
        e.labels = vec!["bug".into()];
    };
    run(&[
        (all, good, true),
        (
            all,
            |e| {
                e.kind = "pull_request.opened".into();
                e.labels = vec!["bug".into()];
                e.source = "hub".into();
            },
            false,
        ),
        (
            all,
            |e| {
                e.kind = "pull_request.opened".into();
                e.labels = vec!["bug".into()];
                e.repo.key = "other/api".into();
            },
            false,
        ),
        (all, |e| e.labels = vec!["bug".into()], false),
        (
            all,
            |e| {
                e.kind = "pull_request.opened".into();
                e.labels = vec!["bug".into()];
                e.branch = Some("dev".into());
            },
            false,
        ),
        (
            all,
            |e| {
                e.kind = "pull_request.opened".into();
                e.labels = vec!["bug".into()];
                e.actor.name = "ci[bot]".into();
            },
            false,
        ),
        (all, |e| e.kind = "pull_request.opened".into(), false),
        (
            all,
            |e| {
                e.kind = "pull_request.opened".into();
                e.labels = vec!["bug".into(), "wip".into()];
            },
            false,
        ),
    ]);
}

#[test]
fn union_in_route_order_then_target_order_each_target_once() {
    let cfg = config(
        r#"
[[routes]]
events = ["issues"]
to = ["discord"]

[[routes]]
events = ["push"]
to = ["slack", "console"]
template = "compact"

[[routes]]
repos = ["acme/*"]
to = ["console", "discord", "slack"]
template = "full"

[[routes]]
to = ["slack"]
"#,
    );
    let got = route(&cfg, &push());
    let want = vec![
        Destination {
            target: Target::parse("slack"),
            template: "compact".into(),
        },
        Destination {
            target: Target::parse("console"),
            template: "compact".into(),
        },
        Destination {
            target: Target::parse("discord"),
            template: "full".into(),
        },
    ];
    assert_eq!(got, want);

    // The first route does match an issue: its target comes first, with the
    // default template set.
    let mut issue = push();
    issue.kind = "issues.opened".into();
    issue.branch = None;
    assert_eq!(
        route(&cfg, &issue),
        vec![
            Destination {
                target: Target::parse("discord"),
                template: "default".into(),
            },
            Destination {
                target: Target::parse("console"),
                template: "full".into(),
            },
            Destination {
                target: Target::parse("slack"),
                template: "full".into(),
            },
        ]
    );
}

#[test]
fn the_same_sink_on_other_channels_is_another_target() {
    let cfg = config(
        r#"
[sinks.bot]
kind = "slack"
token = "xoxb-test"

[[routes]]
to = ["bot:#eng", "bot:#ops"]

[[routes]]
to = ["bot:#ops", "bot:#eng", "bot:#all"]
"#,
    );
    assert_eq!(targets(&cfg, &push()), ["bot:#eng", "bot:#ops", "bot:#all"]);
}

#[test]
fn nothing_matches_gives_an_empty_unallocated_result() {
    let cfg = one_route(r#"events = ["release"]"#);
    let got = route(&cfg, &push());
    assert!(got.is_empty());
    assert_eq!(got.capacity(), 0);
    assert!(route(&config(""), &push()).is_empty());
}

#[test]
fn hub_events_route_by_repo_path_and_scope() {
    let cfg = config(
        r#"
[[routes]]
sources = ["hub"]
repos = ["datasets/acme/*"]
events = ["repo.content"]
to = ["discord"]

[[routes]]
sources = ["hub"]
branches = ["main"]
to = ["slack"]
"#,
    );
    let ev = Event {
        source: "hub".into(),
        kind: "repo.content.update".into(),
        repo: Repo {
            key: "datasets/Acme/corpus".into(),
            ..Repo::default()
        },
        ..Event::default()
    };
    // no branch on a Hub event: the branches route stays out
    assert_eq!(targets(&cfg, &ev), ["discord"]);
}

// ---- property tests ----

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z]{1,6}",
        "[a-zA-Z_.]{0,12}",
        "[a-z*]{1,4}/[a-z*]{0,4}(/[a-z]{1,3})?",
        "\\PC{0,10}",
        ".{0,8}",
    ]
}

fn arb_kind() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "push",
            "pull_request.merged",
            "pull_request.opened",
            "issues.opened",
            "release.published",
            "repo.content.update",
            "discussion.comment.create",
            "",
            ".",
            "push.",
        ])
        .prop_map(String::from),
        arb_text(),
    ]
}

prop_compose! {
    fn arb_event()(
        source in prop::sample::select(vec!["github", "hub", "", "other"]),
        kind in arb_kind(),
        repo in arb_text(),
        branch in prop::option::of(arb_text()),
        author in prop_oneof![arb_text(), Just("dependabot[bot]".to_string())],
        labels in prop::collection::vec(
            prop_oneof![arb_text(), Just("bug".to_string()), Just("WIP".to_string())],
            0..4,
        ),
    ) -> Event {
        Event {
            source: source.into(),
            kind,
            repo: Repo { key: repo, ..Repo::default() },
            actor: Actor { name: author, ..Actor::default() },
            branch,
            labels,
            ..Event::default()
        }
    }
}

/// Every filter line a generated route may carry, each valid.
const FILTERS: &[&str] = &[
    r#"sources = ["github"]"#,
    r#"sources = ["hub", "github"]"#,
    r#"repos = ["acme/*"]"#,
    r#"repos = ["**"]"#,
    r#"repos = ["*", "ü/**"]"#,
    r#"events = ["push"]"#,
    r#"events = ["*"]"#,
    r#"events = ["pull_request", "repo.content"]"#,
    r#"branches = ["main", "release/*"]"#,
    r#"branches = ["**"]"#,
    r#"exclude_authors = ["*[bot]"]"#,
    r#"exclude_authors = ["*"]"#,
    r#"labels = ["bug", "Ünïcode"]"#,
    r#"exclude_labels = ["wip"]"#,
];

const TARGETS: &[&str] = &["console", "slack", "discord"];

prop_compose! {
    /// `[[routes]]` tables: a few filter lines and targets each.
    fn arb_routes()(
        routes in prop::collection::vec(
            (
                prop::sample::subsequence(FILTERS.to_vec(), 0..=4),
                prop::sample::subsequence(TARGETS.to_vec(), 1..=3).prop_shuffle(),
                prop::option::of(prop::sample::select(vec!["compact", "full"])),
            ),
            0..5,
        )
    ) -> String {
        let mut text = String::new();
        for (filters, to, template) in routes {
            text.push_str("[[routes]]\n");
            // a subsequence may hold two lines for one key: keep the first
            let mut seen = Vec::new();
            for f in filters {
                let key = f.split(' ').next().unwrap_or_default();
                if !seen.contains(&key) {
                    seen.push(key);
                    text.push_str(f);
                    text.push('\n');
                }
            }
            let to: Vec<String> = to.iter().map(|t| format!("\"{t}\"")).collect();
            text.push_str(&format!("to = [{}]\n", to.join(", ")));
            if let Some(t) = template {
                text.push_str(&format!("template = \"{t}\"\n"));
            }
        }
        text
    }
}

proptest! {
    #[test]
    fn routing_is_deterministic_unique_and_within_the_config(
        routes in arb_routes(),
        event in arb_event(),
    ) {
        let cfg = config(&routes);
        let first = route(&cfg, &event);
        let again = route(&cfg, &event.clone());
        prop_assert_eq!(&first, &again);

        for (i, d) in first.iter().enumerate() {
            prop_assert!(
                !first[..i].iter().any(|e| e.target == d.target),
                "duplicate target {}", d.target
            );
            // The target and template come from a matching route that names it,
            // the first such route.
            let owner = cfg
                .routes
                .iter()
                .find(|r| r.to.contains(&d.target) && matches(r, &event));
            prop_assert!(owner.is_some(), "{} is named by no matching route", d.target);
            prop_assert_eq!(owner.map(Route::template_set), Some(d.template.as_str()));
        }

        // Every target of every matching route is in the result.
        for r in cfg.routes.iter().filter(|r| matches(r, &event)) {
            for t in &r.to {
                prop_assert!(first.iter().any(|d| d.target == *t));
            }
        }
    }

    #[test]
    fn label_comparison_is_reflexive_symmetric_and_ignores_case(
        a in "\\PC{0,8}",
        b in "\\PC{0,8}",
    ) {
        prop_assert!(eq_ignore_case(&a, &a));
        prop_assert!(eq_ignore_case(&a, &a.to_lowercase()));
        prop_assert_eq!(eq_ignore_case(&a, &b), eq_ignore_case(&b, &a));
    }
}

//! Unit tests of the render stage: embedded templates, escaping and inert
//! mentions, helpers, limits, lookup and overrides, `check`, request bodies.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use serde_json::json;

use super::limits::{SLACK_MAX, SLACK_SECTION_MAX, TRUNCATED, units};
use super::*;
use crate::event::{Commit, Event};

/// Embedded templates only; built once for the whole module.
static EMBEDDED_ONLY: LazyLock<Renderer> = LazyLock::new(|| {
    Renderer::load(Path::new("/nonexistent/hookbridge/templates")).expect("embedded templates")
});

fn r() -> &'static Renderer {
    &EMBEDDED_ONLY
}

/// Renders an inline template with the platform's registry (helpers and
/// escaping included).
fn inline(p: Platform, tpl: &str, data: serde_json::Value) -> String {
    r().registry(p).render_template(tpl, &data).unwrap()
}

/// Every part of the card `renderer` renders, as lines: the text, then
/// title, author, body, `name: value` per field, footer.
fn rt(renderer: &Renderer, p: Platform, set: &str, e: &Event) -> String {
    full(&renderer.render(p, set, e))
}

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

fn write(dir: &Path, rel: &str, body: &str) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, body).unwrap();
    path
}

// ------------------------------------------------------------ templates

#[test]
fn every_embedded_template_renders_its_samples_on_every_platform() {
    let samples = samples::all();
    let mut used = HashSet::new();
    for p in Platform::ALL {
        for e in &samples {
            let name = r().resolve_name(p, "default", &lookup_key(e)).unwrap();
            used.insert(display_name(&name));
            let ctx = context(e).unwrap();
            // The chosen template itself must succeed (no silent fallback),
            // into a card whose every part is valid.
            let (card, problems) = render_card(r().registry(p), &name, &ctx)
                .unwrap_or_else(|err| panic!("{p:?} {name} {}: {err}", e.kind));
            assert!(problems.is_empty(), "{p:?} {name} {}: {problems:?}", e.kind);
            // Empty means "send nothing": only for an action another
            // delivery reports, or a run that has not finished.
            let silent = !e.covered_by.is_empty() || e.ci.as_ref().is_some_and(|c| !c.finished);
            assert_eq!(card.is_empty(), silent, "{p:?} {name} for {}", e.kind);
            if silent {
                continue;
            }
            let text = rt(r(), p, "default", e);
            assert!(!text.contains("{{"), "{text}");
            // Every message names its repo.
            assert!(text.contains(&e.repo.name), "{p:?} {}: {text}", e.kind);
            // The compact set is one line.
            let compact = rt(r(), p, "compact", e);
            assert_eq!(compact.lines().count(), 1, "{compact}");
            assert!(compact.contains(&e.kind), "{compact}");
        }
        // The generic template, for a kind nothing else covers.
        let star = samples::generic("sponsorship.created");
        assert_eq!(
            r().resolve(p, "default", "sponsorship.created").as_deref(),
            Some("shared/default/default")
        );
        used.insert("shared/default/default".to_string());
        let text = rt(r(), p, "default", &star);
        assert!(
            text.contains("sponsorship created") && text.contains("octocat"),
            "{text}"
        );
    }
    // Every embedded default template was exercised by some sample.
    for t in embedded::EMBEDDED.iter().filter(|t| t.set == "default") {
        assert!(
            used.contains(&format!("shared/default/{}", t.name)),
            "no sample for {}",
            t.name
        );
    }
}

#[test]
fn families_resolve_to_their_template() {
    for (kind, want) in [
        ("push", "default/push"),
        ("pull_request.merged", "default/pull_request"),
        (
            "pull_request_review.submitted",
            "default/pull_request_review",
        ),
        ("issues.label_updated", "default/issues"),
        (
            "huggingface.repo.content.update",
            "default/huggingface.repo.content",
        ),
        (
            "huggingface.repo.config.update",
            "default/huggingface.repo.config",
        ),
        ("huggingface.repo.create", "default/huggingface.repo"),
        (
            "huggingface.discussion.comment.create",
            "default/huggingface.discussion.comment",
        ),
        (
            "huggingface.discussion.update",
            "default/huggingface.discussion",
        ),
        ("huggingface.collection.create", "default/huggingface"),
        // A forge's `discussion` never takes the Hub's template.
        ("discussion.created", "default/discussion.created"),
        ("discussion.answered", "default/default"),
        ("repo.create", "default/default"),
        ("star.created", "default/star"),
        ("sponsorship.created", "default/default"),
        ("", "default/default"),
    ] {
        let want = format!("shared/{want}");
        for p in Platform::ALL {
            assert_eq!(
                r().resolve(p, "default", kind).as_deref(),
                Some(want.as_str()),
                "{kind}"
            );
            assert_eq!(
                r().resolve(p, "nosuchset", kind).as_deref(),
                Some(want.as_str()),
                "{kind}"
            );
        }
    }
    let hub = samples::all()
        .into_iter()
        .find(|e| e.kind == "discussion.create")
        .unwrap();
    assert_eq!(lookup_key(&hub), "huggingface.discussion.create");
    let mut forge = hub.clone();
    forge.source_kind = "github".into();
    assert_eq!(lookup_key(&forge), "discussion.create");
}

#[test]
fn embedded_templates_pass_the_strict_check() {
    let problems = Renderer::check(Path::new("/nonexistent/hookbridge/templates"));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn messages_read_well() {
    let pr = samples::all()
        .into_iter()
        .find(|e| e.kind == "pull_request.merged")
        .unwrap();
    let card = r().render(Platform::Slack, "default", &pr);
    assert!(card.text.contains("merged pull request #42"), "{card:?}");
    assert_eq!(card.title, "#42 Add a frobnicator");
    assert_eq!(card.url, "https://github.com/octo-org/hello-world/pull/42");
    assert_eq!(card.color, "#8250df");
    assert_eq!(card.author.name, "octocat");
    assert_eq!(card.author.url, "https://github.com/octocat");
    let fields: Vec<(&str, &str)> = card
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.value.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            ("Branch", "`main` ← `feature/frob`"),
            ("Changes", "+120 −7 · 4 files · 3 commits"),
            ("Labels", "`enhancement`"),
        ]
    );
    assert_eq!(card.footer, "octo-org/hello-world · GitHub");
    let plain = r().render(Platform::Plain, "default", &pr);
    assert_eq!(plain.fields[0].value, "main ← feature/frob");

    let one = samples::push(1, 1);
    let card = r().render(Platform::Slack, "default", &one);
    assert!(card.text.contains("|1 commit>"), "{card:?}");
    assert_eq!(card.title, "1 new commit on main");
    let eight = samples::push(8, 8);
    let card = r().render(Platform::Slack, "default", &eight);
    assert!(
        card.text.contains("|8 commits>") && card.text.contains("to `main`"),
        "{card:?}"
    );
    // The newest five commits, then "and 3 more" linking the compare view.
    assert_eq!(card.body.matches("• ").count(), 5, "{}", card.body);
    assert!(
        !card.body.contains("part 3 ") && card.body.contains("part 8"),
        "{}",
        card.body
    );
    assert!(card.body.ends_with("|and 3 more>"), "{}", card.body);
    assert!(
        card.body
            .contains("|6f2f91a> Fix the frobnicator, part 8 – Mona Lisa")
            || card
                .body
                .contains("Fix the frobnicator, part 8 – Mona Lisa"),
        "{}",
        card.body
    );

    let hub = samples::all()
        .into_iter()
        .find(|e| e.kind == "repo.content.update")
        .unwrap();
    let card = r().render(Platform::Discord, "default", &hub);
    assert!(card.text.contains("space"), "{card:?}");
    assert!(
        card.text.contains(
            "[some-user/some-space](<https://huggingface.co/spaces/some-user/some-space>)"
        )
    );
    // A Hub id is not shown as a person.
    assert!(card.author.name.is_empty(), "{card:?}");
    assert_eq!(card.footer, "some-user/some-space · Hugging Face");

    let mut comment = samples::all()
        .into_iter()
        .find(|e| e.kind == "discussion.comment.create")
        .unwrap();
    comment.body = "word ".repeat(200);
    let card = r().render(Platform::Slack, "default", &comment);
    assert!(card.text.contains("|Update co2 emissions>"), "{card:?}");
    assert!(
        card.body.ends_with('…') && card.body.chars().count() <= 604,
        "{}",
        card.body
    );
}

#[test]
fn a_template_of_text_alone_is_a_text_card() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "shared/default/push.hbs",
        "line one {{event.branch}}\nline two\n",
    );
    let r = Renderer::load(dir.path()).unwrap();
    let card = r.render(Platform::Slack, "default", &samples::push(1, 1));
    assert_eq!(card, Card::text_only("line one main\nline two"));
    assert!(card.is_text_only());
    // Drawn as before cards: text and its sections; content on Discord.
    let body = card_body(Platform::Slack, None, &card);
    assert_eq!(body["text"], "line one main\nline two");
    assert_eq!(body["blocks"][0]["text"]["text"], "line one main\nline two");
    assert!(body.get("attachments").is_none());
    let card = r.render(Platform::Discord, "default", &samples::push(1, 1));
    let body = card_body(Platform::Discord, None, &card);
    assert_eq!(body["content"], "line one main\nline two");
    assert!(body.get("embeds").is_none());
}

#[test]
fn one_line_parts_stay_on_one_line() {
    // Newlines in names, titles and commit authors (issue 16, 9).
    let mut pr = samples::all()
        .into_iter()
        .find(|e| e.kind == "pull_request.opened")
        .unwrap();
    pr.actor.name = "evil\nname".into();
    pr.actor.url = String::new();
    pr.title = "two\nlines".into();
    if let Some(p) = &mut pr.pull_request {
        p.author = "other\nauthor".into();
    }
    let mut push = samples::push(2, 2);
    for c in &mut push.commits {
        c.author = "Mona\nLisa".into();
    }
    for p in Platform::ALL {
        let card = r().render(p, "default", &pr);
        for (what, s) in [
            ("text", &card.text),
            ("title", &card.title),
            ("author", &card.author.name),
            ("footer", &card.footer),
        ] {
            assert!(!s.contains('\n'), "{p:?} {what}: {s:?}");
        }
        assert!(
            card.text.contains("evil name opened"),
            "{p:?} {}",
            card.text
        );
        assert_eq!(card.title, "#42 two lines");
        let author = card.fields.iter().find(|f| f.name == "Author").unwrap();
        assert_eq!(author.value, "other author");
        let card = r().render(p, "default", &push);
        assert!(card.body.contains("Mona Lisa"), "{p:?} {}", card.body);
        assert_eq!(card.body.lines().count(), 2, "{p:?} {}", card.body);
    }
}

#[test]
fn parts_are_checked_and_bad_ones_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "shared/default/push.hbs",
        "pushed{{#part \"title\"}}T{{/part}}{{#part \"color\"}}blue{{/part}}{{#part \"url\"}}javascript:alert(1){{/part}}{{#part \"author_icon\"}}/avatar.png{{/part}}{{#part \"timestamp\"}}soon{{/part}}{{#field \"Empty\"}} {{/field}}{{#field \"Kept\"}}x{{/field}}",
    );
    let r = Renderer::load(dir.path()).unwrap();
    let card = r.render(Platform::Discord, "default", &samples::push(1, 1));
    assert_eq!(card.title, "T");
    assert!(card.color.is_empty() && card.url.is_empty() && card.author.icon.is_empty());
    assert!(card.timestamp.is_empty());
    assert_eq!(card.fields.len(), 1);
    assert_eq!(card.fields[0].name, "Kept");
    let problems = Renderer::check(dir.path());
    let mine: Vec<&TemplateProblem> = problems
        .iter()
        .filter(|p| p.template == path.display().to_string())
        .collect();
    let text: Vec<String> = mine.iter().map(|p| p.message.clone()).collect();
    for want in ["`color`", "`url`", "`author_icon`", "`timestamp`"] {
        assert!(text.iter().any(|m| m.contains(want)), "{want}: {text:#?}");
    }
    // An unknown part is an error `check` names with its line.
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "slack/default/push.hbs",
        "x\n{{#part \"titel\"}}T{{/part}}",
    );
    let problems = Renderer::check(dir.path());
    let p = problems
        .iter()
        .find(|p| p.template == path.display().to_string())
        .unwrap_or_else(|| panic!("{problems:#?}"));
    assert!(p.message.contains("unknown part `titel`"), "{p}");
    assert_eq!(p.line, Some(2));
}

#[test]
fn value_parts_are_not_escaped_for_markup() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "shared/default/push.hbs",
        "x{{#part \"title\"}}{{concat \"a & b\"}}{{/part}}{{#part \"url\"}}https://x.org/?a=1&b=2{{/part}}",
    );
    let r = Renderer::load(dir.path()).unwrap();
    let card = r.render(Platform::Slack, "default", &samples::push(1, 1));
    assert_eq!(card.url, "https://x.org/?a=1&b=2");
    assert_eq!(card.title, "a &amp; b");
}

// ------------------------------------------------- escaping and mentions

const HOSTILE: &str = "@everyone @here <!channel> <!here> <@123> <@&5> <#7> *bold* [x](http://evil) _i_ ~s~ `c` || A & B > q";

fn hostile_events() -> Vec<Event> {
    let mut push = samples::push(2, 2);
    for c in &mut push.commits {
        c.message = format!("{HOSTILE}\nsecond line");
        c.author = "@everyone <@1>".into();
    }
    push.branch = Some("<!here>`main`".into());
    let mut pr = samples::all()
        .into_iter()
        .find(|e| e.kind == "pull_request.opened")
        .unwrap();
    pr.title = HOSTILE.into();
    pr.body = format!("# Heading\n- item\n1. first\n> quote\n{HOSTILE}");
    pr.actor.name = "<@&5> @here".into();
    let mut comment = samples::all()
        .into_iter()
        .find(|e| e.kind == "issue_comment.created")
        .unwrap();
    comment.title = HOSTILE.into();
    comment.body = HOSTILE.into();
    let mut generic = samples::generic("sponsorship.created");
    generic.title = HOSTILE.into();
    vec![push, pr, comment, generic]
}

#[test]
fn slack_payload_text_cannot_ping_or_link() {
    for e in hostile_events() {
        for set in ["default", "compact"] {
            let text = rt(r(), Platform::Slack, set, &e);
            for bad in [
                "<!channel>",
                "<!here>",
                "<@123>",
                "<@&5>",
                "<#7>",
                "<@1>",
                "@everyone",
                "@here",
            ] {
                assert!(!text.contains(bad), "{bad} in {text}");
            }
            if set == "default" {
                assert!(text.contains("&lt;!channel&gt;"), "{text}");
                assert!(text.contains("@\u{200B}everyone"), "{text}");
                assert!(text.contains("A &amp; B"), "{text}");
            }
            // Every `<` that survives opens a link to an http(s) URL.
            for (i, _) in text.match_indices('<') {
                assert!(text[i..].starts_with("<http"), "raw < at {i}: {text}");
            }
            // Escaped once, not twice.
            assert!(
                !text.contains("&amp;amp;") && !text.contains("&amp;lt;"),
                "{text}"
            );
        }
    }
}

/// The unescaped occurrences of `pat` in Discord markdown.
fn unescaped<'a>(text: &'a str, pat: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(pat)
        .map(|(i, _)| i)
        .filter(move |&i| text[..i].bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 0)
}

#[test]
fn discord_payload_text_cannot_ping_or_format() {
    for e in hostile_events() {
        for set in ["default", "compact"] {
            let text = rt(r(), Platform::Discord, set, &e);
            assert!(
                !text.contains("@everyone") && !text.contains("@here"),
                "{text}"
            );
            for m in ["<@", "<#", "<!"] {
                assert_eq!(unescaped(&text, m).count(), 0, "{m} in {text}");
            }
            // Payload markup is shown: escaped, not obeyed.
            if set == "default" {
                assert!(text.contains("\\*bold\\*"), "{text}");
                assert!(text.contains("\\[x\\](http://evil)"), "{text}");
                assert!(
                    text.contains("\\|\\|") && text.contains("\\_i\\_"),
                    "{text}"
                );
            }
            // Every masked link goes to an http(s) URL: ours, or one the
            // Markdown of a description wrote (checked, then kept).
            for i in unescaped(&text, "](") {
                assert!(text[i..].starts_with("](<http"), "{text}");
            }
            assert!(!text.contains("\\\\*"), "escaped twice: {text}");
        }
    }
    let pr = &hostile_events()[1];
    let text = rt(r(), Platform::Discord, "default", pr);
    // The description is Markdown: converted, not escaped into noise.
    for line in ["**Heading**", "\n- item", "\n1. first", "\n> quote"] {
        assert!(text.contains(line), "{line} missing in {text}");
    }
}

#[test]
fn plain_strips_control_characters() {
    let mut e = samples::generic("sponsorship.created");
    e.title = "red \u{1b}[31mALERT\u{1b}[0m\r\nbell\u{7} \u{202E}evil".into();
    let text = rt(r(), Platform::Plain, "default", &e);
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
    assert!(!text.contains('\u{202E}'));
    assert!(text.contains("red [31mALERT[0m"), "{text:?}");
}

#[test]
fn escape_functions() {
    assert_eq!(
        escape::slack("a & <b> @here"),
        "a &amp; &lt;b&gt; @\u{200B}here"
    );
    assert_eq!(
        escape::discord("# h\n- l\n  -# s\n2. x\n*a* _b_ ~c~ `d` |e| >f <@1> [g](h) \\"),
        "\\# h\n\\- l\n  \\-# s\n2\\. x\n\\*a\\* \\_b\\_ ~c~ \\`d\\` \\|e\\| \\>f \\<@1\\> \\[g\\](h) \\\\"
            .replace("~c~", "\\~c\\~")
    );
    assert_eq!(escape::discord("@everyone"), "@\u{200B}everyone");
    // A version number is not a list item.
    assert_eq!(escape::discord("0.0.1 and\n1.5"), "0.0.1 and\n1.5");
    assert_eq!(escape::discord("1.\n12. x"), "1\\.\n12\\. x");
    // Bare URLs stay clickable: no escapes inside them.
    assert_eq!(
        escape::discord("see https://x.org/a_b*c and a_b"),
        "see https://x.org/a_b*c and a\\_b"
    );
    assert_eq!(escape::plain("a\u{0}b\tc\n"), "ab c\n");
}

/// Characters every platform drops from payload text: bidi embeddings,
/// overrides and isolates, C0 and C1 controls (`\r` too, outside code spans).
const DROPPED_CHARS: &[char] = &[
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{0}', '\u{7}', '\u{8}', '\u{1B}', '\r', '\u{7F}', '\u{85}', '\u{9F}',
];

/// The mass-mention words `platform` obeys after an `@`.
fn mention_words(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Slack => &["everyone", "here", "channel"],
        Platform::Discord => &["everyone", "here"],
        Platform::Plain => &[],
    }
}

/// An `@` directly followed by a word that pings everyone on `platform`.
fn bare_mass_mention(platform: Platform, text: &str) -> Option<String> {
    text.match_indices('@').find_map(|(i, _)| {
        let rest = &text[i + 1..];
        mention_words(platform)
            .iter()
            .find(|w| {
                rest.get(..w.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(w))
            })
            .map(|w| format!("@{w}"))
    })
}

/// Texts with a mass mention split by `d` (and `e`): between the `@` and
/// the word, inside the word, several at once, at a line start and mid-line.
fn split_mentions(d: char, e: char) -> Vec<String> {
    vec![
        format!("@{d}here"),
        format!("@{d}everyone"),
        format!("@{d}channel"),
        format!("hi @{d}{e}EVERYONE now"),
        format!("@{d}{d}{e}here"),
        format!("@e{d}very{e}one"),
        format!("@{d}h{e}e{d}r{e}e"),
        format!("x\n@{d}c{e}hannel!"),
        format!("{d}@{d}here"),
        format!("@{d}@{e}here"),
    ]
}

#[test]
fn dropped_characters_cannot_hide_a_mass_mention() {
    for &d in DROPPED_CHARS {
        for &e in DROPPED_CHARS {
            for text in split_mentions(d, e) {
                let clean: String = text
                    .chars()
                    .filter(|c| !DROPPED_CHARS.contains(c))
                    .collect();
                for p in [Platform::Slack, Platform::Discord, Platform::Plain] {
                    let out = escape::escape(p, &text);
                    assert_eq!(
                        bare_mass_mention(p, &out),
                        None,
                        "{p:?} {text:?} -> {out:?}"
                    );
                    // What comes out is what the same text without the
                    // dropped characters gives: guarded exactly as well.
                    assert_eq!(out, escape::escape(p, &clean), "{p:?} {text:?}");
                    let code = escape::code_text(p, &text);
                    assert_eq!(
                        bare_mass_mention(p, &code),
                        None,
                        "{p:?} {text:?} -> {code:?}"
                    );
                    if d != '\r' && e != '\r' {
                        assert_eq!(code, escape::code_text(p, &clean), "{p:?} {text:?}");
                    }
                }
            }
        }
    }
    // The guard itself, spelled out.
    assert_eq!(escape::slack("@\u{202E}here"), "@\u{200B}here");
    assert_eq!(escape::slack("@\u{7}channel"), "@\u{200B}channel");
    assert_eq!(escape::discord("@\u{7}everyone"), "@\u{200B}everyone");
    assert_eq!(
        escape::discord("@ev\u{2066}ery\u{1B}one"),
        "@\u{200B}everyone"
    );
    assert_eq!(
        escape::code_text(Platform::Discord, "@\u{202E}here"),
        "@\u{200B}here"
    );
    // Plain text (stdout) pings nobody: it has no guard to bypass.
    assert_eq!(escape::plain("@\u{202E}here"), "@here");
}

#[test]
fn dropped_characters_cannot_hide_discord_markdown() {
    // An ordered-list marker split by a dropped character is still escaped.
    assert_eq!(escape::discord("1\u{7}. item"), "1\\. item");
    assert_eq!(escape::discord("12\u{202E}3. item"), "123\\. item");
    // A URL split by one is still a URL: no escapes inside the link.
    assert_eq!(
        escape::discord("see h\u{7}ttps://x.org/a_b"),
        "see https://x.org/a_b"
    );
}

// ---------------------------------------------------------------- helpers

#[test]
fn urls_of_plain_characters_come_out_as_they_are() {
    // The shortcut for such URLs must give what the character loop gives:
    // each byte it passes, put where the loop sees it (after a `@`, which
    // only the loop takes), comes out unchanged on every platform.
    let kept: Vec<u8> = (0..=127u8).filter(|&b| escape::kept_in_url(b)).collect();
    assert!(kept.len() > 70, "{kept:?}");
    for pf in Platform::ALL {
        for &b in &kept {
            let c = b as char;
            let url = format!("https://h.example/a@{c}");
            assert_eq!(
                escape::sanitize_url(pf, &url).as_deref(),
                Some(format!("https://h.example/a%40{c}").as_str()),
                "{c:?} on {pf:?}"
            );
        }
        let plain = "https://github.com/o/r/compare/1a2b...3c4d?x=1,y;z=%20#L1-L2";
        assert_eq!(escape::sanitize_url(pf, plain).as_deref(), Some(plain));
    }
    // Anything else still takes the loop.
    for b in [b'@', b'&', b'<', b' ', b'|', b'(', b'"', 0x7f] {
        assert!(!escape::kept_in_url(b), "{:?}", b as char);
    }
}

#[test]
fn link_helper_per_platform() {
    let data = json!({"u": "https://x.org/a b)c|d>e", "t": "a|b]c<d>", "e": "", "js": "javascript:alert(1)"});
    let s = inline(Platform::Slack, "{{link u t}}", data.clone());
    assert_eq!(s, "<https://x.org/a%20b%29c%7Cd%3Ee|a\u{2223}b]c&lt;d&gt;>");
    let d = inline(Platform::Discord, "{{link u t}}", data.clone());
    assert_eq!(d, "[a\\|b\\]c\\<d\\>](<https://x.org/a%20b%29c%7Cd%3Ee>)");
    let p = inline(Platform::Plain, "{{link u t}}", data.clone());
    // Plain text shows the label; the card carries its own link.
    assert_eq!(p, "a|b]c<d>");
    for pf in Platform::ALL {
        // Empty or non-http URL: just the (escaped) text.
        assert_eq!(inline(pf, "{{link e \"txt\"}}", data.clone()), "txt");
        assert_eq!(inline(pf, "{{link js \"txt\"}}", data.clone()), "txt");
        assert_eq!(inline(pf, "{{link missing \"txt\"}}", data.clone()), "txt");
    }
    assert_eq!(
        inline(
            Platform::Slack,
            "{{link \"https://a.b/?x=1&y=2\"}}",
            data.clone()
        ),
        "<https://a.b/?x=1&amp;y=2>"
    );
    // Markup nests through block forms.
    assert_eq!(
        inline(
            Platform::Discord,
            "{{#bold}}{{link \"https://a.b\" \"t_t\"}}{{/bold}}",
            data.clone()
        ),
        "**[t\\_t](<https://a.b>)**"
    );
    // A markup helper as a subexpression is text: shown, not obeyed.
    assert_eq!(
        inline(
            Platform::Slack,
            "{{bold (link \"https://a.b\" \"t\")}}",
            data
        ),
        "*&lt;https://a.b|t&gt;*"
    );
}

#[test]
fn bold_code_quote_helpers() {
    let data = json!({"t": "  *x* & `y` @here\nz  ", "e": ""});
    assert_eq!(
        inline(Platform::Slack, "{{bold t}}", data.clone()),
        "**x* &amp; `y` @\u{200B}here\nz*"
    );
    assert_eq!(
        inline(Platform::Discord, "{{bold t}}", data.clone()),
        "**\\*x\\* & \\`y\\` @\u{200B}here\nz**"
    );
    assert_eq!(
        inline(Platform::Plain, "{{bold t}}", data.clone()),
        "*x* & `y` @here\nz"
    );
    // Backticks cannot close the span; newlines cannot break it.
    assert_eq!(
        inline(Platform::Slack, "{{code t}}", data.clone()),
        "`*x* &amp; \u{02CB}y\u{02CB} @\u{200B}here z`"
    );
    assert_eq!(
        inline(Platform::Discord, "{{code t}}", data.clone()),
        "`*x* & \u{02CB}y\u{02CB} @\u{200B}here z`"
    );
    assert_eq!(
        inline(Platform::Discord, "{{code \"<@1>\"}}", data.clone()),
        "`<\u{200B}@1>`"
    );
    assert_eq!(
        inline(Platform::Discord, "[{{code e}}][{{bold e}}]", data.clone()),
        "[][]"
    );
    assert_eq!(
        inline(Platform::Discord, "{{quote t}}", data.clone()),
        "> \\*x\\* & \\`y\\` @\u{200B}here\n> z"
    );
    assert_eq!(inline(Platform::Slack, "{{italic \"hi\"}}", data), "_hi_");
}

#[test]
fn value_helpers() {
    let data = json!({
        "t": "Hello <world> & friends",
        "emoji": "👍🏽👍🏽👍🏽",
        "cjk": "漢字かな交じり文",
        "comb": "e\u{301}e\u{301}e\u{301}",
        "sha": "1481a2de7b2a7d02428ad93446ab166be7793fbb",
        "msg": "\n  first line  \nsecond",
        "list": [1, 2, 3, 4, 5, 6, 7],
        "n": 8
    });
    let s = Platform::Slack;
    // Value helpers are escaped once by the registry.
    assert_eq!(inline(s, "{{truncate t 9}}", data.clone()), "Hello &lt;w…");
    assert_eq!(
        inline(s, "{{truncate t 100}}", data.clone()),
        "Hello &lt;world&gt; &amp; friends"
    );
    assert_eq!(inline(s, "{{truncate cjk 4}}", data.clone()), "漢字か…");
    // Never splits an emoji from its skin tone or a letter from its accent.
    assert_eq!(inline(s, "{{truncate emoji 3}}", data.clone()), "👍🏽…");
    assert_eq!(inline(s, "{{truncate comb 3}}", data.clone()), "e\u{301}…");
    assert_eq!(inline(s, "{{short_sha sha}}", data.clone()), "1481a2d");
    assert_eq!(inline(s, "{{first_line msg}}", data.clone()), "first line");
    assert_eq!(
        inline(s, "{{plural 1 \"commit\"}}", data.clone()),
        "1 commit"
    );
    assert_eq!(
        inline(s, "{{plural n \"commit\"}}", data.clone()),
        "8 commits"
    );
    assert_eq!(
        inline(s, "{{plural 0 \"entry\" \"entries\"}}", data.clone()),
        "0 entries"
    );
    assert_eq!(
        inline(s, "{{#each (take list 2)}}{{this}},{{/each}}", data.clone()),
        "1,2,"
    );
    assert_eq!(inline(s, "{{minus n 5}} {{add n 1}}", data.clone()), "3 9");
    assert_eq!(
        inline(s, "{{coalesce nope \"\" t}}", data.clone()),
        "Hello &lt;world&gt; &amp; friends"
    );
    assert_eq!(
        inline(s, "{{concat \"a\" n \"<\"}}", data.clone()),
        "a8&lt;"
    );
    assert_eq!(inline(s, "{{upper (truncate cjk 2)}}", data), "漢…");
}

// ----------------------------------------------------------------- limits

fn assert_within(p: Platform, text: &str) {
    let max = limits::max_for(p);
    assert!(units(text) <= max, "{p:?}: {} > {max}", units(text));
    assert!(text.chars().count() <= max);
}

#[test]
fn ten_thousand_commits_stay_within_limits_and_fast() {
    let mut e = samples::push(10_000, 10_000);
    for c in &mut e.commits {
        c.message = format!("{} 🎉 漢字 e\u{301}", "long message ".repeat(20));
    }
    let start = Instant::now();
    for p in Platform::ALL {
        let text = rt(r(), p, "default", &e);
        assert_within(p, &text);
        assert!(text.contains("and 9995 more"), "{text}");
        assert!(text.contains("10000 commits"), "{text}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn oversized_output_is_cut_safely_with_a_marker() {
    let dir = tempfile::tempdir().unwrap();
    for p in ["slack", "discord", "plain"] {
        write(
            dir.path(),
            &format!("{p}/all/push.hbs"),
            "{{#each event.commits}}{{link url (short_sha id)}} {{message}}\n{{/each}}",
        );
        write(
            dir.path(),
            &format!("{p}/all/default.hbs"),
            "{{bold event.title}}",
        );
    }
    let r = Renderer::load(dir.path()).unwrap();

    let mut push = samples::push(10_000, 10_000);
    for c in &mut push.commits {
        c.message = "fix & <tidy> 🎉".into();
    }
    let start = Instant::now();
    for p in Platform::ALL {
        let text = rt(&r, p, "all", &push);
        assert_within(p, &text);
        assert!(text.ends_with(TRUNCATED), "{p:?}");
        // Cut at a line: the last kept line is whole.
        let last = text.lines().rev().nth(1).unwrap();
        assert!(
            last.ends_with("🎉") || last.ends_with("&gt; 🎉"),
            "{p:?}: {last}"
        );
        assert!(units(&text) > limits::max_for(p) / 2, "cut far too early");
    }
    assert!(start.elapsed() < Duration::from_secs(5));

    // One 100 KB line of mixed scripts, emoji, combining marks and escapes.
    let mut big = samples::generic("sponsorship.created");
    big.title = "a&b 👍🏽 漢字 e\u{301} 🇩🇪 *x* ".repeat(5_000);
    assert!(big.title.len() > 100_000);
    let start = Instant::now();
    for p in Platform::ALL {
        let text = rt(&r, p, "all", &big);
        assert_within(p, &text);
        assert!(text.ends_with(TRUNCATED));
        let kept = text.strip_suffix(TRUNCATED).unwrap().trim_end();
        let last = kept.chars().last().unwrap();
        assert!(!escape::is_extender(last) || last == '\u{301}' || last == '\u{1F3FD}');
        assert!(
            !kept.ends_with('\\') && !kept.ends_with('&'),
            "{p:?}: {kept}"
        );
        // The head of the message survives.
        assert!(kept.starts_with(match p {
            Platform::Slack => "*a&amp;b",
            Platform::Discord => "**a&b",
            Platform::Plain => "a&b",
        }));
        // The embedded templates shorten such titles long before the limit.
        let text = rt(&EMBEDDED_ONLY, p, "default", &big);
        assert_within(p, &text);
        assert!(!text.ends_with(TRUNCATED) && text.contains('…'));
    }
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn cuts_never_split_graphemes_entities_or_escapes() {
    // A flag pair, a skin tone and a combining accent straddling the cut.
    for s in ["xx🇩🇪🇫🇷", "xx👍🏽👍🏽", "xxe\u{301}e\u{301}"] {
        for budget in 0..units(s) {
            let cut = limits::safe_cut(Platform::Plain, s, budget, false);
            assert!(s.is_char_boundary(cut));
            let rest = &s[cut..];
            if let Some(c) = rest.chars().next() {
                assert!(!escape::is_extender(c), "{s:?} cut before {c:?}");
            }
            let flags = s[..cut]
                .chars()
                .filter(|c| ('\u{1F1E6}'..='\u{1F1FF}').contains(c))
                .count();
            assert_eq!(flags % 2, 0, "{s:?} split a flag at {cut}");
        }
    }
    let s = "aaaa&amp;bbbb";
    for budget in 5..9 {
        assert_eq!(limits::safe_cut(Platform::Slack, s, budget, false), 4);
    }
    let s = "aaa\\*bbb";
    assert_eq!(limits::safe_cut(Platform::Discord, s, 4, false), 3);
    let s = "x [label](<https://a.b/c>)";
    assert_eq!(limits::safe_cut(Platform::Discord, s, 20, false), 2);
}

// ---------------------------------------------------------- missing fields

#[test]
fn missing_fields_render_without_panicking() {
    let kinds = samples::all()
        .into_iter()
        .map(|e| e.kind)
        .collect::<Vec<_>>();
    for kind in kinds
        .iter()
        .map(String::as_str)
        .chain(["", "weird", "a.b.c.d"])
    {
        let e = Event {
            kind: kind.to_string(),
            ..Event::default()
        };
        for p in Platform::ALL {
            for set in ["default", "compact", "nosuchset"] {
                let text = rt(r(), p, set, &e);
                // A CI template without CI facts has no result to post.
                let ci = [
                    "check_",
                    "workflow_",
                    "status",
                    "deployment",
                    "pipeline",
                    "build",
                ]
                .iter()
                .any(|k| kind.starts_with(k));
                assert!(ci || !text.trim().is_empty(), "{p:?} {kind}");
            }
        }
    }
    // A payload of the wrong shape entirely.
    let mut e = samples::push(2, 2);
    e.payload = json!(["not", "an", "object"]);
    e.pull_request = None;
    for p in Platform::ALL {
        let text = rt(r(), p, "default", &e);
        assert!(
            text.contains("push") && text.contains("octo-org/hello-world"),
            "{text}"
        );
    }
}

#[test]
fn and_n_more_counts_what_the_list_did_not_show() {
    let commit = |i: usize| Commit {
        id: format!("{i:040}"),
        message: format!("change {i}"),
        url: format!("https://example.com/c/{i}"),
        author: "ann".into(),
        ..Commit::default()
    };
    // A forge that lists 3 of 12 commits: 3 lines, then "and 9 more".
    let mut e = Event {
        kind: "push".into(),
        total_commits: 12,
        commits: (0..3).map(commit).collect(),
        branch: Some("main".into()),
        ..Event::default()
    };
    for p in [Platform::Slack, Platform::Discord, Platform::Plain] {
        let text = rt(r(), p, "default", &e);
        assert!(text.contains("and 9 more"), "{p:?}: {text}");
    }
    // 8 listed of 8: five lines and "and 3 more"; 5 of 5: no such line.
    e.total_commits = 8;
    e.commits = (0..8).map(commit).collect();
    let text = rt(r(), Platform::Slack, "default", &e);
    assert!(text.contains("and 3 more"), "{text}");
    e.total_commits = 5;
    e.commits.truncate(5);
    let text = rt(r(), Platform::Slack, "default", &e);
    assert!(!text.contains("more"), "{text}");
}

#[test]
fn reviewers_labels_and_dismissals_are_named() {
    let event = |kind: &str, payload: serde_json::Value| Event {
        kind: kind.into(),
        title: "t".into(),
        number: Some(7),
        payload,
        ..Event::default()
    };
    let cases = [
        (
            {
                let mut e = event(
                    "pull_request.review_requested",
                    json!({"requested_reviewer": {"login": "rev"}}),
                );
                e.requested_reviewer = Some(crate::event::Actor {
                    name: "rev".into(),
                    ..Default::default()
                });
                e
            },
            "Reviewer: rev",
        ),
        (
            event("issues.labeled", json!({"label": {"name": "bug-x"}})),
            "bug-x",
        ),
        (
            event(
                "pull_request.unlabeled",
                json!({"label": {"name": "bug-y"}}),
            ),
            "bug-y",
        ),
        (
            event(
                "pull_request_review.dismissed",
                json!({"review": {"state": "dismissed"}}),
            ),
            "dismissed a review on",
        ),
    ];
    for (e, want) in &cases {
        for p in [Platform::Slack, Platform::Discord, Platform::Plain] {
            let text = rt(r(), p, "default", e);
            assert!(text.contains(want), "{} {p:?}: {text}", e.kind);
        }
    }
}

#[test]
fn cuts_never_leave_a_code_span_open() {
    // Code spans with spaces inside, one after another, past the limit.
    let spans: String = (0..400)
        .map(|i| format!("`needs triage by the core team {i}` "))
        .collect();
    for p in [Platform::Slack, Platform::Discord] {
        let out = limits::enforce(p, spans.clone());
        let body = out.trim_end_matches(TRUNCATED);
        assert_eq!(
            body.matches('`').count() % 2,
            0,
            "{p:?}: ...{}",
            &body[body.len() - 80..]
        );
    }
    for section in limits::slack_sections(&spans) {
        assert_eq!(
            section.matches('`').count() % 2,
            0,
            "...{}",
            &section[section.len() - 80..]
        );
    }
}

#[test]
fn long_label_lists_stop_at_ten() {
    let e = Event {
        kind: "issues.opened".into(),
        title: "t".into(),
        labels: (0..25).map(|i| format!("label-{i}")).collect(),
        ..Event::default()
    };
    for p in [Platform::Slack, Platform::Discord, Platform::Plain] {
        let text = rt(r(), p, "default", &e);
        assert!(
            text.contains("label-9") && !text.contains("label-10"),
            "{p:?}: {text}"
        );
        assert!(text.contains("and 15 more"), "{p:?}: {text}");
    }
}

#[test]
fn minimal_line_is_escaped() {
    let mut e = Event {
        kind: "x<@1>".into(),
        ..Event::default()
    };
    e.repo.key = "<!channel>".into();
    assert_eq!(
        minimal(Platform::Slack, &e),
        "x&lt;@1&gt; in &lt;!channel&gt;"
    );
    assert_eq!(
        minimal(Platform::Discord, &e),
        "x\\<@1\\> in \\<!channel\\>"
    );
    assert_eq!(minimal(Platform::Plain, &Event::default()), "event");
}

// ------------------------------------------------- lookup, overrides, check

#[test]
fn overrides_follow_the_lookup_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "slack/custom/pull_request.merged.hbs",
        "MERGED {{event.number}}",
    );
    write(d, "slack/custom/pull_request.hbs", "PR {{event.kind}}");
    write(d, "slack/custom/default.hbs", "CUSTOM {{event.kind}}");
    write(
        d,
        "slack/default/push.hbs",
        "MY PUSH {{plural event.total_commits \"commit\"}}",
    );
    write(d, "slack/newset/issues.hbs", "ISSUE {{event.title}}");
    write(d, "slack/newset/README.md", "not a template");
    write(d, "README.md", "not a template either");
    write(d, "slack/push.hbs", "flat: never read");
    write(d, "slak/default/push.hbs", "misspelt platform: never read");
    write(d, "discord/default/.push.hbs.swp", "{{#if");
    let r = Renderer::load(d).unwrap();
    let all = samples::all();
    let get = |k: &str| all.iter().find(|e| e.kind == k).unwrap();

    let s = Platform::Slack;
    assert_eq!(rt(&r, s, "custom", get("pull_request.merged")), "MERGED 42");
    assert_eq!(
        rt(&r, s, "custom", get("pull_request.closed")),
        "PR pull_request.closed"
    );
    // S/default comes before default/<kind>.
    assert_eq!(rt(&r, s, "custom", get("push")), "CUSTOM push");
    assert_eq!(rt(&r, s, "newset", get("push")), "MY PUSH 3 commits");
    assert_eq!(rt(&r, s, "default", get("push")), "MY PUSH 3 commits");
    assert_eq!(
        rt(&r, s, "newset", get("issues.opened")),
        "ISSUE The frobnicator is missing"
    );
    // Set newset has no default: the embedded default chain applies.
    assert!(rt(&r, s, "newset", get("fork")).starts_with("🍴"));
    // Other platforms keep their embedded templates.
    assert!(rt(&r, Platform::Discord, "custom", get("push")).starts_with("⬆️"));
    assert!(rt(&r, Platform::Discord, "default", get("push")).starts_with("⬆️"));
    assert!(r.template_names(s).contains(&"newset/issues".to_string()));
    assert!(r.has_set("newset") && r.has_set("compact") && !r.has_set("x"));
    // check names the files the lookup never reads, and only those.
    let notes = Renderer::check(d);
    let named: Vec<&str> = notes.iter().map(|p| p.template.as_str()).collect();
    assert_eq!(named.len(), 2, "{notes:#?}");
    assert!(named.iter().any(|t| t.ends_with("slack/push.hbs")));
    assert!(named.iter().any(|t| t.ends_with("slak")));
    assert_eq!(
        rt(&r, Platform::Slack, "x", get("push")),
        "MY PUSH 3 commits"
    );
}

#[test]
fn a_broken_file_fails_load_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "discord/default/push.hbs",
        "line one\nline two {{#if event.tag}}\n{{event.tag}\n",
    );
    let problems = Renderer::load(dir.path()).unwrap_err();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].template, path.display().to_string());
    assert!(matches!(problems[0].line, Some(2..=4)), "{:?}", problems[0]);
    assert!(problems[0].message.contains("syntax"), "{}", problems[0]);
    assert!(
        problems[0]
            .to_string()
            .starts_with(&format!("{}:", path.display()))
    );
    // check reports the same problem.
    assert_eq!(Renderer::check(dir.path()), problems);
}

#[test]
fn strict_check_catches_unknown_helpers_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let helper = write(
        d,
        "slack/default/ping.hbs",
        "Ping {{frobnicate event.title}}\n",
    );
    let field = write(d, "plain/default/fork.hbs", "Fork\n{{event.titel}}\n");
    let in_helper = write(
        d,
        "discord/default/release.hbs",
        "{{truncate event.tittle 5}}\n",
    );
    // Nine pull_request samples hit the same failure: reported once.
    let family = write(
        d,
        "plain/default/pull_request.hbs",
        "{{#if x}}{{/if}}{{nope 1}}",
    );
    // Unknown kinds get a generic sample: payload fields cannot be checked.
    write(
        d,
        "slack/default/sponsorship.hbs",
        "{{payload.sponsorship.tier}} {{event.repo.name}}",
    );
    let problems = Renderer::check(d);
    let find = |p: &Path| {
        problems
            .iter()
            .find(|x| x.template == p.display().to_string())
            .unwrap_or_else(|| panic!("{} not reported: {problems:#?}", p.display()))
    };
    let h = find(&helper);
    assert_eq!(h.line, Some(1));
    assert!(h.message.contains("frobnicate"), "{h}");
    let f = find(&field);
    assert_eq!(f.line, Some(2));
    assert!(f.message.contains("event.titel"), "{f}");
    assert!(find(&in_helper).message.contains("event.tittle"));
    assert!(find(&family).message.contains("nope"));
    assert_eq!(problems.len(), 4, "{problems:#?}");

    // The same files load (they compile) and render falls back to the
    // embedded generic template instead of failing.
    let r = Renderer::load(d).unwrap();
    let ping = samples::all()
        .into_iter()
        .find(|e| e.kind == "ping")
        .unwrap();
    let text = rt(&r, Platform::Slack, "default", &ping);
    assert!(
        text.starts_with("🔔 <https://github.com/octocat|octocat>: ping (<https://github.com/octo-org/hello-world|"),
        "{text}"
    );
    // Lenient at runtime: the unknown field renders empty.
    let fork = samples::all()
        .into_iter()
        .find(|e| e.kind == "fork")
        .unwrap();
    assert_eq!(rt(&r, Platform::Plain, "default", &fork), "Fork");
}

#[test]
fn a_user_default_override_does_not_replace_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "slack/default/default.hbs",
        "{{nope event.kind}}",
    );
    write(dir.path(), "slack/default/push.hbs", "{{nope event.kind}}");
    let r = Renderer::load(dir.path()).unwrap();
    let text = rt(&r, Platform::Slack, "default", &samples::push(1, 1));
    assert!(
        text.starts_with("🔔 <https://github.com/octocat|octocat>: push"),
        "{text}"
    );
}

// ---------------------------------------------------------- request bodies

#[test]
fn request_body_shapes() {
    assert_eq!(
        request_body(Platform::Discord, Some("ignored"), "hi"),
        json!({"content": "hi", "allowed_mentions": {"parse": []}})
    );
    assert_eq!(
        request_body(Platform::Plain, None, "hi"),
        json!({"text": "hi"})
    );
    assert_eq!(
        request_body(Platform::Slack, Some("C123"), "*hi*"),
        json!({
            "channel": "C123",
            "text": "*hi*",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*", "verbatim": true}}],
            "unfurl_links": false,
            "unfurl_media": false
        })
    );
    let no_channel = request_body(Platform::Slack, None, "hi");
    assert!(no_channel.get("channel").is_none());
    assert_eq!(no_channel["text"], "hi");
}

#[test]
fn slack_blocks_respect_section_and_count_limits() {
    let text = rt(r(), Platform::Slack, "default", &{
        let mut e = samples::push(10_000, 10_000);
        e.title = "x".into();
        e
    });
    let lines: String = (0..2_000)
        .map(|i| format!("line {i} &amp; <https://a.b|x>\n"))
        .collect();
    let one_line = "漢".repeat(39_000);
    for t in [text.as_str(), lines.as_str(), one_line.as_str()] {
        let t = limits::enforce(Platform::Slack, t.to_string());
        let body = request_body(Platform::Slack, None, &t);
        let blocks = body["blocks"].as_array().unwrap();
        assert!(!blocks.is_empty() && blocks.len() <= 50);
        let mut joined = 0;
        for b in blocks {
            let s = b["text"]["text"].as_str().unwrap();
            assert!(!s.is_empty() && units(s) <= SLACK_SECTION_MAX);
            // Splits fall between lines here, never inside an entity or link.
            assert!(
                !s.ends_with("&amp") && s.matches('<').count() == s.matches('>').count(),
                "{s}"
            );
            joined += units(s);
        }
        // Nothing but the split newlines is lost.
        assert!(joined + blocks.len() >= units(t.trim()), "{joined}");
        assert!(units(&t) <= SLACK_MAX);
    }
}

#[test]
fn rendering_a_push_is_cheap() {
    let e = samples::push(3, 3);
    let n = 200;
    let start = Instant::now();
    for _ in 0..n {
        std::hint::black_box(rt(r(), Platform::Slack, "default", &e));
    }
    let each = start.elapsed() / n;
    // Debug build on a shared 2-core box: generous, but a template re-parse
    // per render or a quadratic escape would blow through it.
    assert!(each < Duration::from_millis(5), "{each:?} per render");
}

#[test]
fn commit_struct_renders_in_order() {
    let mut e = samples::push(0, 2);
    e.commits = vec![
        Commit {
            id: "aaaaaaaaaa".into(),
            message: "first".into(),
            ..Commit::default()
        },
        Commit {
            id: "bbbbbbbbbb".into(),
            message: "second".into(),
            ..Commit::default()
        },
    ];
    let text = rt(r(), Platform::Plain, "default", &e);
    let a = text.find("aaaaaaa first").unwrap();
    let b = text.find("bbbbbbb second").unwrap();
    assert!(a < b, "{text}");
}

#[test]
fn stdout_prints_a_readable_plain_card() {
    let pr = samples::all()
        .into_iter()
        .find(|e| e.kind == "pull_request.merged")
        .unwrap();
    let card = r().render(Platform::Plain, "default", &pr);
    let text = plain_text(&card);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("🟣 octocat merged pull request #42"),
        "{text}"
    );
    assert_eq!(lines[1], "  #42 Add a frobnicator");
    assert_eq!(
        lines[2],
        "  https://github.com/octo-org/hello-world/pull/42"
    );
    assert_eq!(lines[3], "  by octocat");
    assert!(text.contains("\n  Branch: main ← feature/frob\n"), "{text}");
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("  octo-org/hello-world · GitHub"),
        "{text}"
    );
    // No markup on stdout.
    assert!(!text.contains('`') && !text.contains("<http"), "{text}");
    assert_eq!(
        card_body(Platform::Plain, None, &card),
        json!({ "text": text })
    );
    // What the outbox stores reads back as the same card.
    assert_eq!(Card::from_stored(&card.to_stored()), card);
}

#[test]
fn an_action_another_delivery_reports_renders_nothing() {
    // Every default template, every platform: `covered_by` means silence.
    for p in Platform::ALL {
        for mut e in samples::all() {
            if e.kind == "ping" {
                continue;
            }
            let before = r().render(p, "default", &e);
            e.covered_by = "push".into();
            let after = r().render(p, "default", &e);
            assert!(after.is_empty(), "{p:?} {}: {after:?}", e.kind);
            // ... and only then: the same event without it says something
            // unless it is an unfinished run.
            let unfinished = e.ci.as_ref().is_some_and(|c| !c.finished);
            assert_eq!(before.is_empty(), unfinished, "{p:?} {}", e.kind);
        }
    }
}

#[test]
fn a_review_that_only_commented_renders_nothing() {
    let mut e = samples::all()
        .into_iter()
        .find(|e| e.kind == "pull_request_review.submitted")
        .unwrap();
    e.review = Some(crate::event::Review {
        state: "commented".into(),
        ..Default::default()
    });
    e.body = String::new();
    if let serde_json::Value::Object(m) = &mut e.payload {
        m.insert("review".into(), json!({"state": "commented", "body": null}));
    }
    for p in Platform::ALL {
        assert!(r().render(p, "default", &e).is_empty(), "{p:?}");
    }
    // With text it is a review worth reading.
    e.review = Some(crate::event::Review {
        state: "commented".into(),
        body: "One question about the parser.".into(),
        ..Default::default()
    });
    let text = rt(r(), Platform::Slack, "default", &e);
    assert!(
        text.contains("reviewed") && text.contains("One question about the parser."),
        "{text}"
    );
}

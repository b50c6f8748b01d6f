//! Temporary micro-benchmark: one render (route + render for Slack and
//! Discord + what is queued) of the GitHub push fixture.
use std::time::Instant;

use hookbridge::pipeline::Pipeline;
use hookbridge::sources::{self, Delivery};
use poem::http::{HeaderMap, HeaderValue};

fn main() {
    let dir = std::env::temp_dir().join(format!("hb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bridge.toml");
    std::fs::write(
        &path,
        r#"
[sources.github]
kind = "github"
allow_unsigned = true
[sinks.slack]
kind = "slack"
token = "xoxb-not-real"
[sinks.discord]
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/abc"
[[routes]]
to = ["slack:#eng", "discord"]
"#,
    )
    .unwrap();
    let p = Pipeline::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let root = env!("CARGO_MANIFEST_DIR");
    for fixture in ["push.1", "pull_request.opened.1"] {
        let body = std::fs::read(format!("{root}/tests/fixtures/github/{fixture}.json")).unwrap();
        let mut headers = HeaderMap::new();
        let ev = fixture.split('.').next().unwrap();
        headers.insert("x-github-event", HeaderValue::from_str(ev).unwrap());
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let delivery = Delivery { headers: &headers, query: None, body: &body };
        let event = sources::parse(&p.config.sources["github"], &delivery).unwrap();
        let n = 20_000;
        let mut best = f64::MAX;
        for _round in 0..5 {
            let start = Instant::now();
            for _ in 0..n {
                let out = p.prepare(&event, event.payload.clone());
                std::hint::black_box(out);
            }
            let each = start.elapsed().as_secs_f64() / n as f64 * 1e6;
            best = best.min(each);
        }
        // The payload clone alone, to subtract.
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(event.payload.clone());
        }
        let clone = start.elapsed().as_secs_f64() / n as f64 * 1e6;
        println!("{fixture}: prepare (2 targets) best of 5: {best:.2} us; payload clone {clone:.2} us");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

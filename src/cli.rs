//! The command line: `serve`, `check`, `render`, `deliveries`, `replay`.
//!
//! Exit codes: 0 ok, 1 bad config or input (the message says what to fix),
//! 2 usage (clap's own).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use poem::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::{Config, SinkKind};
use crate::outbox::{Row, Status};
use crate::pipeline::Pipeline;
use crate::render::Renderer;
use crate::service::{self, ServeOptions};
use crate::sources::{self, Delivery};

#[derive(Debug, Parser)]
#[command(
    name = "hookbridge",
    version,
    about = "Relay forge and Hugging Face Hub webhooks to Slack and Discord"
)]
pub struct Cli {
    /// The config file.
    #[arg(
        long,
        global = true,
        env = "HOOKBRIDGE_CONFIG",
        default_value = "bridge.toml"
    )]
    pub config: PathBuf,
    /// Log format on stderr (RUST_LOG filters).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusArg {
    Pending,
    Sent,
    Dead,
}

impl From<StatusArg> for Status {
    fn from(s: StatusArg) -> Status {
        match s {
            StatusArg::Pending => Status::Pending,
            StatusArg::Sent => Status::Sent,
            StatusArg::Dead => Status::Dead,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve {
        /// Store file instead of `[store] path` (`:memory:`: not durable, for benchmarks).
        #[arg(long)]
        store: Option<String>,
        /// Listen address instead of `[server] listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Validate the config and templates and print the route table.
    Check,
    /// Show what would be posted, and where, for one payload; sends nothing.
    Render {
        /// The source (a `[sources.<name>]`) the payload comes from.
        #[arg(long)]
        source: String,
        /// The request body.
        #[arg(long)]
        payload: PathBuf,
        /// `Name: value` lines (default: the payload's sibling `.headers` file, if any).
        #[arg(long)]
        headers: Option<PathBuf>,
        /// One JSON array of {"sink","platform","channel","body"}.
        #[arg(long)]
        json: bool,
    },
    /// List the outbox.
    Deliveries {
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Queue stored messages again.
    Replay {
        /// Row ids from `hookbridge deliveries`.
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        ids: Vec<i64>,
        /// Every dead row.
        #[arg(long)]
        dead: bool,
    },
}

/// Parses the command line, runs it, and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // serenity records requests (a webhook URL holds its token) in INFO
    // spans: keep them off whatever RUST_LOG says.
    let filter = match "serenity=warn".parse() {
        Ok(d) => filter.add_directive(d),
        Err(_) => filter,
    };
    // Colours only for a person at a terminal: a pipe or a file (systemd's
    // journal, `2>log`) gets plain text. NO_COLOR (no-color.org) wins.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { store, listen } => {
            let pipeline = Pipeline::load(&cli.config)?;
            let signals = service::Signals::install()?;
            let running =
                service::start(cli.config.clone(), pipeline, ServeOptions { store, listen })
                    .await?;
            running.run_until_signalled(signals).await
        }
        Command::Check => check(&cli.config),
        Command::Render {
            source,
            payload,
            headers,
            json,
        } => render(&cli.config, &source, &payload, headers.as_deref(), json),
        Command::Deliveries {
            status,
            limit,
            json,
        } => deliveries(&cli.config, status.map(Into::into), limit, json).await,
        Command::Replay { ids, dead } => replay(&cli.config, &ids, dead).await,
    }
}

fn check(path: &Path) -> anyhow::Result<()> {
    let config = Config::load(path)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "config: {}", path.display())?;
    writeln!(
        out,
        "listen: {}   store: {}",
        config.server.listen,
        config.store.location()
    )?;
    writeln!(out, "\nsources:")?;
    for s in config.sources.values() {
        let auth = if s.secrets.is_empty() {
            "UNSIGNED (allow_unsigned)".to_string()
        } else {
            format!(
                "{} secret{}",
                s.secrets.len(),
                if s.secrets.len() == 1 { "" } else { "s" }
            )
        };
        writeln!(
            out,
            "  {:<16} {:<12} POST /hooks/{:<12} {auth}",
            s.name, s.kind, s.name
        )?;
    }
    writeln!(out, "\nsinks:")?;
    for s in config.sinks.values() {
        let mode = match (s.kind, &s.token, &s.webhook_url) {
            (SinkKind::Stdout, _, _) => "prints to stdout",
            (_, _, Some(_)) => "webhook (fixed channel)",
            (_, Some(_), None) => "bot token (channel per route)",
            _ => "",
        };
        let base = s
            .api_base
            .as_deref()
            .map(|b| format!("  api_base {b}"))
            .unwrap_or_default();
        writeln!(out, "  {:<16} {:<8} {mode}{base}", s.name, s.kind.as_str())?;
    }
    for name in &config.disabled_sinks {
        writeln!(
            out,
            "  {name:<16} disabled: its credentials expanded to nothing; routes to it are skipped"
        )?;
    }
    writeln!(out, "\nroutes:")?;
    if config.routes.is_empty() {
        writeln!(
            out,
            "  (none: every delivery is verified and answered 200, nothing is sent)"
        )?;
    }
    for r in &config.routes {
        let all = |v: &Option<Vec<String>>| {
            v.as_ref()
                .map(|v| v.join(","))
                .unwrap_or_else(|| "*".into())
        };
        let pats = |v: &Option<crate::config::PatternSet>| {
            v.as_ref()
                .map(|p| p.patterns().collect::<Vec<_>>().join(","))
                .unwrap_or_else(|| "*".into())
        };
        writeln!(
            out,
            "  #{} (line {}): sources={} repos={} events={} branches={}",
            r.index,
            r.line,
            all(&r.sources),
            pats(&r.repos),
            all(&r.events),
            pats(&r.branches)
        )?;
        let mut extra = Vec::new();
        if r.exclude_authors.is_some() {
            extra.push(format!("exclude_authors={}", pats(&r.exclude_authors)));
        }
        if r.labels.is_some() {
            extra.push(format!("labels={}", all(&r.labels)));
        }
        if r.exclude_labels.is_some() {
            extra.push(format!("exclude_labels={}", all(&r.exclude_labels)));
        }
        if !extra.is_empty() {
            writeln!(out, "      {}", extra.join(" "))?;
        }
        let mut to: Vec<String> = r.to.iter().map(|t| t.to_string()).collect();
        if to.is_empty() {
            to.push("(nothing: its sinks are disabled)".into());
        }
        let threads = match (r.thread, r.broadcast) {
            (false, _) => "",
            (true, false) => "   threads",
            (true, true) => "   threads, broadcast",
        };
        writeln!(
            out,
            "      -> {}   template set: {}{threads}",
            to.join(", "),
            r.template_set()
        )?;
        for (target, why) in r.thread_problems(&config.sinks) {
            writeln!(
                out,
                "      note: {target} posts top-level, not in threads: {why}"
            )?;
        }
    }
    let mut problems = Renderer::check(&config.templates_dir);
    if problems.is_empty()
        && let Ok(renderer) = Renderer::load(&config.templates_dir)
    {
        problems = crate::pipeline::unknown_template_sets(&config, &renderer);
    }
    if !problems.is_empty() {
        writeln!(out)?;
        drop(out);
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        bail!(
            "templates in {}:\n{}",
            config.templates_dir.display(),
            list.join("\n")
        );
    }
    if config.templates_dir.is_dir() {
        writeln!(out, "\ntemplates: ok ({})", config.templates_dir.display())?;
    } else {
        writeln!(
            out,
            "\ntemplates: ok (embedded; no overrides, {} does not exist)",
            config.templates_dir.display()
        )?;
    }
    Ok(())
}

/// Reads a `.headers` file: one `Name: value` per line.
pub fn read_headers(path: &Path) -> anyhow::Result<HeaderMap> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read headers file {}", path.display()))?;
    let mut map = HeaderMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            bail!("{}:{}: expected `Name: value`", path.display(), i + 1);
        };
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("{}:{}: bad header name", path.display(), i + 1))?;
        let value = HeaderValue::from_str(value.trim())
            .with_context(|| format!("{}:{}: bad header value", path.display(), i + 1))?;
        map.append(name, value);
    }
    Ok(map)
}

fn render(
    config_path: &Path,
    source_name: &str,
    payload: &Path,
    headers: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let pipeline = Pipeline::load(config_path)?;
    let Some(source) = pipeline.config.sources.get(source_name) else {
        let names: Vec<&str> = pipeline.config.sources.keys().map(String::as_str).collect();
        bail!(
            "no source named `{source_name}` in {}; sources: {}",
            config_path.display(),
            names.join(", ")
        );
    };
    let body = std::fs::read(payload)
        .with_context(|| format!("cannot read payload {}", payload.display()))?;
    let sibling = payload.with_extension("headers");
    let headers = match headers {
        Some(h) => read_headers(h)?,
        None if sibling.is_file() => read_headers(&sibling)?,
        None => HeaderMap::new(),
    };
    let delivery = Delivery {
        headers: &headers,
        query: None,
        body: &body,
    };
    // Nothing is sent, so the signature is not checked.
    let mut event = sources::parse(source, &delivery)
        .map_err(|r| anyhow::anyhow!("{}: {r}", payload.display()))?;
    let raw = std::mem::take(&mut event.payload);
    // As in `serve`: a ping is answered, never posted.
    let (prepared, silent) = if crate::pipeline::is_ping(&event) {
        (Vec::new(), Vec::new())
    } else {
        let origin = crate::pipeline::Origin::new(&event, source.kind, &headers);
        pipeline.plan(&event, raw, &origin)
    };
    let mut out = std::io::stdout().lock();
    if json {
        let arr: Vec<serde_json::Value> = prepared
            .iter()
            .map(|p| {
                serde_json::json!({
                    "sink": p.destination.target.sink,
                    "platform": p.platform.as_str(),
                    "channel": p.destination.target.channel,
                    "body": p.body(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&arr)?)?;
        return Ok(());
    }
    eprintln!(
        "event: {} from {} ({}), repo `{}`",
        event.kind, source.name, source.kind, event.repo.key
    );
    if crate::pipeline::is_ping(&event) {
        eprintln!("a ping is verified and answered 200 (\"pong\"): it is never posted");
        return Ok(());
    }
    if prepared.is_empty() && silent.is_empty() {
        eprintln!("no route matches this event: nothing would be posted");
        return Ok(());
    }
    for d in &silent {
        writeln!(
            out,
            "=== {} (template set `{}`): the template renders nothing for this event; nothing is sent",
            d.target, d.template
        )?;
    }
    for p in &prepared {
        writeln!(
            out,
            "=== {} ({}, template set `{}`)",
            p.destination.target,
            p.platform.as_str(),
            p.destination.template
        )?;
        writeln!(out, "{}", p.card.preview())?;
    }
    Ok(())
}

async fn open_store_for_cli(
    config_path: &Path,
) -> anyhow::Result<std::sync::Arc<dyn crate::outbox::Store>> {
    let config = Config::load(config_path)?;
    if config.store.is_memory() {
        bail!("the store is `:memory:`: nothing persists between processes to list or replay");
    }
    service::open_store(&config, None, false).await
}

fn time(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

fn row_json(r: &Row) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "status": r.status.as_str(),
        "source": r.source,
        "delivery_id": r.delivery_id,
        "kind": r.kind,
        "repo": r.repo,
        "sink": r.lane.sink,
        "channel": if r.lane.channel.is_empty() { None } else { Some(&r.lane.channel) },
        "attempts": r.attempts,
        "last_error": r.last_error,
        "created_at": time(r.created_at),
        "next_attempt_at": time(r.next_attempt_at),
    })
}

async fn deliveries(
    config_path: &Path,
    status: Option<Status>,
    limit: usize,
    json: bool,
) -> anyhow::Result<()> {
    let store = open_store_for_cli(config_path).await?;
    let rows = store.list(status, limit).await?;
    let mut out = std::io::stdout().lock();
    if json {
        for r in &rows {
            writeln!(out, "{}", row_json(r))?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:>6}  {:<20}  {:<7}  {:>3}  {:<10}  {:<22}  {:<28}  {:<20}  last error",
        "id", "created", "status", "try", "source", "kind", "repo", "target"
    )?;
    for r in &rows {
        let target = if r.lane.channel.is_empty() {
            r.lane.sink.clone()
        } else {
            format!("{}:{}", r.lane.sink, r.lane.channel)
        };
        let err: String = r
            .last_error
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(80)
            .collect();
        writeln!(
            out,
            "{:>6}  {:<20}  {:<7}  {:>3}  {:<10}  {:<22}  {:<28}  {:<20}  {}",
            r.id,
            time(r.created_at),
            r.status.as_str(),
            r.attempts,
            r.source,
            r.kind,
            r.repo,
            target,
            err.replace('\n', " ")
        )?;
    }
    if rows.is_empty() {
        writeln!(out, "(no rows)")?;
    }
    Ok(())
}

async fn replay(config_path: &Path, ids: &[i64], dead: bool) -> anyhow::Result<()> {
    let store = open_store_for_cli(config_path).await?;
    let n = if dead {
        store.replay_dead().await?
    } else {
        store.replay(ids).await?
    };
    if !dead && n < ids.len() {
        eprintln!("{} of {} ids were not found", ids.len() - n, ids.len());
    }
    println!(
        "queued {n} message{} again; a running service sends {} within seconds",
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "them" }
    );
    if !dead && n < ids.len() {
        bail!("some ids were not found");
    }
    Ok(())
}

//! `cargo bench --bench throughput`: the issue "Deliver to Slack and Discord
//! through a durable outbox", measured end to end on the real binary.
//!
//! Spawns `hookbridge serve` (the binary cargo built for this bench) with a
//! generated `bridge.toml` in a temp dir, finds its address on the
//! `hookbridge listening` log line, and measures, in one run:
//!
//! 1. accepted deliveries/s and latency of a signed ~9 KB GitHub `push` at
//!    32 keep-alive connections, durable store vs `--store :memory:` vs a
//!    minimal receiver (see `minimal.rs`: the least a durable receiver can
//!    do, the reference the durable store's throughput is a ratio of), in
//!    alternating rounds, then each open loop at 10,000/s;
//! 2. messages/s through the outbox to a stand-in Slack with no limits
//!    (`[delivery] min_interval = "0s"`), 1 lane and 8 lanes;
//! 3. the child's RSS idle and with 100,000 messages pending;
//! 4. with PostgreSQL (`HOOKBRIDGE_BENCH_DATABASE_URL`, or Debian's
//!    `postgresql` binaries: a server is started for the run, fsync on):
//!    accepted deliveries/s and p99 on PostgreSQL, one replica and two
//!    behind the same 32 connections, beside the durable SQLite store in
//!    the same rounds (`cargo bench --bench throughput -- postgres`).
//!
//! The load generator and the Slack stand-in are hand-written HTTP/1.1 on
//! raw sockets (requests precomputed, one buffer per connection) so the
//! bench takes as little of the 2 shared cores as it can. Everything is on
//! 127.0.0.1; every loop is bounded in count and time; children are killed
//! when their guard drops, panics included. Not a test: without cargo
//! bench's `--bench` argument it only says how to run it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

/// Concurrent keep-alive connections of the load generator.
const CONNS: usize = 32;
/// Requests before each measured accept run (not recorded).
const WARMUP: u64 = 2_000;
/// Requests per measured accept run.
const MEASURED: u64 = 40_000;
/// Closed-loop accept runs per store, alternating durable and memory: the
/// machine's speed drifts over minutes, so each round pairs the two stores
/// in the same few seconds and the table shows the median round.
const ROUNDS: usize = 3;
/// The offered rate of the open-loop accept run, deliveries/s: the
/// issue's throughput target, at which its latency target applies.
const PACED_RATE: f64 = 10_000.0;
/// Requests of the open-loop accept run.
const PACED: u64 = 40_000;
/// Messages pushed through the outbox per lane count.
const OUTBOX_MESSAGES: u64 = 20_000;
/// Deliveries left pending for the RSS measurement.
const PENDING: u64 = 100_000;
/// The body is grown to at least this many bytes.
const BODY_BYTES: usize = 9_000;
/// Upper bound of any one load run or drain.
const RUN_LIMIT: Duration = Duration::from_secs(180);
/// Upper bound of one request's round trip.
const REQUEST_LIMIT: Duration = Duration::from_secs(30);
/// Reconnects a load connection may make after I/O errors.
const MAX_RECONNECTS: u32 = 3;
/// How long the child gets to print its address.
const START_LIMIT: Duration = Duration::from_secs(30);
/// Linux USER_HZ: the unit of utime/stime in /proc/*/stat.
const TICKS_PER_SEC: f64 = 100.0;
const SECRET: &str = "bench-webhook-secret";
/// Digits of the unique part of X-GitHub-Delivery (written in place).
const ID_DIGITS: usize = 12;
/// The hidden argument that makes this binary the minimal receiver.
const MINIMAL_ARG: &str = "--minimal-receiver";

mod minimal;

// hookbridge's allocator, so the minimal receiver (this binary re-executed)
// differs from it in the work done, not in malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `--minimal-receiver <db>`: this binary re-executed by the bench.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(at) = args.iter().position(|a| a == MINIMAL_ARG) {
        let Some(db) = args.get(at + 1) else {
            eprintln!("error: {MINIMAL_ARG} needs a database path");
            return ExitCode::from(2);
        };
        return match minimal::main(Path::new(db), SECRET) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    // cargo bench passes --bench; cargo test (--benches / --all-targets)
    // does not: then this is not a test and does nothing.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("throughput is a benchmark: run it with `cargo bench --bench throughput`");
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let body = push_body()?;
    let tmp = tempfile::Builder::new()
        .prefix("hookbridge-bench-")
        .tempdir()
        .context("cannot create a temp dir")?;
    let dir = tmp.path();
    let mut report = Report::default();
    // `cargo bench --bench throughput -- drain` runs only the measurements
    // whose names contain a given word (for profiling one of them).
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));

    // 1. Accepted deliveries/s and latency: durable, memory, and the
    // minimal receiver as the reference.
    let slack = StandIn::start(true).await?;
    let cfg = config(
        &dir.join("accept.db"),
        &slack.api_base(),
        &["#bench"],
        "timeout = \"10s\"",
    );
    let stores: Vec<_> = [
        ("durable", Target::Hookbridge(None)),
        ("memory", Target::Hookbridge(Some(":memory:"))),
        ("minimal", Target::Minimal),
    ]
    .into_iter()
    .filter(|(label, _)| wants(&format!("accept-{label}")))
    .collect();
    report.accept = accept_runs(&stores, dir, &cfg, &body).await?;
    drop(slack);

    // 2. Messages/s through the outbox, no pacing, 1 and 8 lanes.
    for lanes in [1usize, 8] {
        if wants(&format!("drain-{lanes}")) {
            report.drain.push(drain_run(dir, lanes, &body).await?);
        }
    }

    // 3. RSS idle and with 100,000 pending.
    if wants("rss") {
        report.rss = Some(rss_run(dir, &body).await?);
    }

    // 4. PostgreSQL, one replica and two, beside SQLite.
    if wants("postgres") {
        report.postgres = postgres_runs(dir, &body).await?;
    }

    let md = report.markdown(body.len());
    println!("\n{md}");
    if !only.is_empty() {
        println!("(a selection: not written to bench-results.md)");
        return Ok(());
    }
    let out = results_path();
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&out, &md).with_context(|| format!("cannot write {}", out.display()))?;
    println!("(written to {})", out.display());
    Ok(())
}

// ---------------------------------------------------------------- phases

struct AcceptResult {
    label: &'static str,
    /// The closed-loop rounds, in the order run, with the service's CPU.
    rounds: Vec<(LoadResult, CpuUse)>,
    /// The same service at [`PACED_RATE`], open loop.
    paced: LoadResult,
    rss_after_kb: u64,
}

impl AcceptResult {
    /// The round of median throughput: the one the table shows.
    fn median(&self) -> &(LoadResult, CpuUse) {
        let mut by_rate: Vec<_> = self.rounds.iter().collect();
        by_rate.sort_by(|a, b| a.0.rate().total_cmp(&b.0.rate()));
        by_rate[by_rate.len() / 2]
    }

    fn load(&self) -> &LoadResult {
        &self.median().0
    }
}

/// Row 1: each target's service started and warmed up, then [`ROUNDS`]
/// closed-loop runs alternating between them, then one open-loop run each.
async fn accept_runs(
    stores: &[(&'static str, Target)],
    dir: &Path,
    cfg: &str,
    body: &[u8],
) -> anyhow::Result<Vec<AcceptResult>> {
    let mut running = Vec::new();
    for &(label, target) in stores {
        eprintln!("[1] accept, {label}: {WARMUP} warm-up requests");
        let svc = Service::target(dir, &format!("accept-{label}"), cfg, target)?;
        let load = LoadTemplate::new(svc.addr, body, label.as_bytes()[0]);
        let warm = drive(&load, 0, WARMUP, false, None).await;
        if warm.ok == 0 {
            bail!(
                "{label}: no request was accepted during warm-up: {}\n{}",
                warm.first_error.as_deref().unwrap_or("no error recorded"),
                svc.log_tail()
            );
        }
        running.push((label, svc, load, Vec::new()));
    }
    let mut next = WARMUP;
    for round in 1..=ROUNDS {
        for (label, svc, load, rounds) in &mut running {
            eprintln!(
                "[1] accept, {label}, round {round}/{ROUNDS}: {MEASURED} requests, closed loop"
            );
            let before = CpuSnapshot::take(svc.pid);
            let result = drive(load, next, MEASURED, true, None).await;
            let cpu = CpuSnapshot::take(svc.pid).since(&before);
            eprintln!("{}", result.summary());
            rounds.push((result, cpu));
        }
        // The durable store against the others, this round.
        let last = |want: &str| {
            running
                .iter()
                .find(|r| r.0 == want)
                .and_then(|r| r.3.last())
                .map(|(l, _)| l)
        };
        if let Some(d) = last("durable") {
            for other in ["minimal", "memory"] {
                if let Some(o) = last(other) {
                    eprintln!(
                        "    round {round}: durable / {other} {:.2}x (p99 {:.2} vs {:.2} ms)",
                        d.rate() / o.rate().max(1e-9),
                        ms(d.percentile(0.99)),
                        ms(o.percentile(0.99))
                    );
                }
            }
        }
        next += MEASURED;
    }
    let mut results = Vec::new();
    for (label, svc, load, rounds) in running {
        let rss_after_kb = proc_status(svc.pid).rss_kb;
        eprintln!("[1] accept, {label}: {PACED} requests offered at {PACED_RATE}/s");
        let paced = drive(&load, next, PACED, true, Some(PACED_RATE)).await;
        eprintln!("{}", paced.summary());
        results.push(AcceptResult {
            label,
            rounds,
            paced,
            rss_after_kb,
        });
    }
    Ok(results)
}

struct DrainResult {
    lanes: usize,
    queue: LoadResult,
    received: u64,
    elapsed: Duration,
    complete: bool,
    cpu: CpuUse,
}

impl DrainResult {
    fn rate(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

async fn drain_run(dir: &Path, lanes: usize, body: &[u8]) -> anyhow::Result<DrainResult> {
    let deliveries = OUTBOX_MESSAGES / lanes as u64;
    let messages = deliveries * lanes as u64;
    eprintln!(
        "[2] outbox, {lanes} lane(s): queue {messages} messages ({deliveries} deliveries), then drain"
    );
    let slack = StandIn::start(false).await?;
    let channels: Vec<String> = (1..=lanes).map(|i| format!("#c{i}")).collect();
    let channels: Vec<&str> = channels.iter().map(String::as_str).collect();
    let cfg = config(
        &dir.join(format!("drain{lanes}.db")),
        &slack.api_base(),
        &channels,
        // Sends held by the closed gate must outlive the queueing.
        "timeout = \"120s\"\nmin_interval = \"0s\"",
    );
    let svc = Service::start(dir, &format!("drain-{lanes}"), &cfg, None)?;
    let load = LoadTemplate::new(svc.addr, body, b'0' + lanes as u8 % 10);
    let queue = drive(&load, 0, deliveries, false, None).await;
    if queue.ok != deliveries {
        bail!(
            "{lanes} lanes: only {} of {deliveries} deliveries were accepted: {}\n{}",
            queue.ok,
            queue.first_error.as_deref().unwrap_or("no error recorded"),
            svc.log_tail()
        );
    }
    let before = CpuSnapshot::take(svc.pid);
    let started = Instant::now();
    slack.open_gate();
    let complete = slack.wait_received(messages, RUN_LIMIT).await;
    let elapsed = started.elapsed();
    let cpu = CpuSnapshot::take(svc.pid).since(&before);
    let received = slack.received();
    let result = DrainResult {
        lanes,
        queue,
        received,
        elapsed,
        complete,
        cpu,
    };
    eprintln!(
        "    {received} of {messages} received in {:.2} s: {:.0} msg/s{}",
        elapsed.as_secs_f64(),
        result.rate(),
        if slack.bad() > 0 {
            format!(" ({} malformed requests at the stand-in)", slack.bad())
        } else {
            String::new()
        }
    );
    Ok(result)
}

struct RssResult {
    idle: ProcStatus,
    pending: ProcStatus,
    load: LoadResult,
    db_bytes: u64,
}

async fn rss_run(dir: &Path, body: &[u8]) -> anyhow::Result<RssResult> {
    eprintln!("[3] RSS: accept {PENDING} deliveries for a sink that is down");
    // Bound but never listening: connections are refused at once.
    let down = TcpSocket::new_v4().context("socket")?;
    down.bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .context("cannot bind the down port")?;
    let down_addr = down.local_addr().context("down port address")?;
    let db = dir.join("pending.db");
    let cfg = config(
        &db,
        &format!("http://{down_addr}/api/"),
        &["#down"],
        "timeout = \"10s\"",
    );
    let svc = Service::start(dir, "rss", &cfg, None)?;
    let idle = proc_status(svc.pid);
    let load = LoadTemplate::new(svc.addr, body, b'r');
    let result = drive(&load, 0, PENDING, false, None).await;
    let pending = proc_status(svc.pid);
    let db_bytes = ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut p = db.clone().into_os_string();
            p.push(suffix);
            std::fs::metadata(p).ok().map(|m| m.len())
        })
        .sum();
    eprintln!(
        "    RSS {} MB idle, {} MB with {} pending (peak {} MB)",
        mb(idle.rss_kb),
        mb(pending.rss_kb),
        result.ok,
        mb(pending.hwm_kb)
    );
    drop(down);
    Ok(RssResult {
        idle,
        pending,
        load: result,
        db_bytes,
    })
}

/// The bench's `bridge.toml`: GitHub pushes to the `slack` bot-token sink.
fn config(store: &Path, api_base: &str, channels: &[&str], delivery: &str) -> String {
    let to = channels
        .iter()
        .map(|c| format!("\"slack:{c}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# generated by benches/throughput/main.rs
[store]
path = "{store}"

[delivery]
{delivery}

[sources.github]
kind = "github"
secret = "{SECRET}"

[sinks.slack]
kind = "slack"
token = "xoxb-bench-not-a-token"
api_base = "{api_base}"

[[routes]]
sources = ["github"]
events = ["push"]
to = [{to}]
"#,
        store = store.display()
    )
}

/// `push.1.json` grown with commits to about 9 KB.
fn push_body() -> anyhow::Result<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github/push.1.json");
    let text = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut push: serde_json::Value =
        serde_json::from_slice(&text).with_context(|| format!("{}", path.display()))?;
    let first = push["commits"]
        .get(0)
        .cloned()
        .with_context(|| format!("{}: no commits[0] to copy", path.display()))?;
    for i in 1..=100u32 {
        let body = serde_json::to_vec(&push)?;
        if body.len() >= BODY_BYTES {
            return Ok(body);
        }
        let mut commit = first.clone();
        commit["id"] = format!("{i:040x}").into();
        commit["message"] = format!("Bench commit {i}: update README.md").into();
        push["commits"]
            .as_array_mut()
            .context("commits is not an array")?
            .push(commit);
    }
    bail!("could not grow the push body to {BODY_BYTES} bytes")
}

fn sign(body: &[u8]) -> anyhow::Result<String> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes())
        .map_err(|e| anyhow::anyhow!("hmac key: {e}"))?;
    mac.update(body);
    Ok(hex::encode(mac.finalize().into_bytes()))
}

/// Where cargo puts this bench's build: `<target>/bench-results.md`.
fn results_path() -> PathBuf {
    // <target>/release/deps/throughput-<hash>
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench-results.md")
}

// ---------------------------------------------------------------- child

/// What the child wrote: counts and the last lines, for error messages.
#[derive(Default)]
struct LogTail {
    lines: AtomicU64,
    warnings: AtomicU64,
    errors: AtomicU64,
    last: Mutex<VecDeque<String>>,
}

impl LogTail {
    fn record(&self, line: &[u8]) {
        self.lines.fetch_add(1, Ordering::Relaxed);
        if contains(line, b"\"level\":\"WARN\"") {
            self.warnings.fetch_add(1, Ordering::Relaxed);
        } else if contains(line, b"\"level\":\"ERROR\"") {
            self.errors.fetch_add(1, Ordering::Relaxed);
        } else if !contains(line, b"panic") && line.starts_with(b"{") {
            // JSON below WARN; a plain line (a panic, the minimal
            // receiver's errors) is always kept.
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.len() == 20 {
            last.pop_front();
        }
        last.push_back(String::from_utf8_lossy(line).trim_end().to_string());
    }
}

/// What a row-1 run measures.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// `hookbridge serve`, with this `--store` if any (else the config's).
    Hookbridge(Option<&'static str>),
    /// The minimal receiver (`minimal.rs`): this binary re-executed.
    Minimal,
}

/// A running `hookbridge serve` or minimal receiver; killed when dropped.
struct Service {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    log: Arc<LogTail>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Service {
    fn start(dir: &Path, name: &str, cfg: &str, store: Option<&str>) -> anyhow::Result<Service> {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, cfg).with_context(|| format!("cannot write {}", path.display()))?;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookbridge"));
        cmd.arg("--config").arg(&path).args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ]);
        if let Some(s) = store {
            cmd.args(["--store", s]);
        }
        cmd.env("RUST_LOG", "warn,hookbridge=info");
        Service::spawn(cmd, dir, "hookbridge")
    }

    /// The minimal receiver, its database `<name>.db` in `dir`.
    fn minimal(dir: &Path, name: &str) -> anyhow::Result<Service> {
        let exe = std::env::current_exe().context("cannot find the bench's own binary")?;
        let mut cmd = Command::new(exe);
        cmd.arg(MINIMAL_ARG).arg(dir.join(format!("{name}.db")));
        Service::spawn(cmd, dir, "the minimal receiver")
    }

    /// `hookbridge serve` with `cfg`, or the minimal receiver.
    fn target(dir: &Path, name: &str, cfg: &str, target: Target) -> anyhow::Result<Service> {
        match target {
            Target::Hookbridge(store) => Service::start(dir, name, cfg, store),
            Target::Minimal => Service::minimal(dir, name),
        }
    }

    /// Starts `cmd` in `dir` and waits for the address it prints.
    fn spawn(mut cmd: Command, dir: &Path, what: &str) -> anyhow::Result<Service> {
        let child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {what}"))?;
        let pid = child.id();
        let mut svc = Service {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log: Arc::new(LogTail::default()),
            readers: Vec::new(),
        };
        let (tx, rx) = std::sync::mpsc::channel::<SocketAddr>();
        if let Some(stderr) = svc.child.stderr.take() {
            let log = svc.log.clone();
            svc.readers.push(std::thread::spawn(move || {
                drain(stderr, |line| {
                    log.record(line);
                    if let Some(addr) = listening_addr(line) {
                        let _ = tx.send(addr);
                    }
                })
            }));
        }
        if let Some(stdout) = svc.child.stdout.take() {
            svc.readers
                .push(std::thread::spawn(move || drain(stdout, |_| {})));
        }
        match rx.recv_timeout(START_LIMIT) {
            Ok(addr) => svc.addr = addr,
            Err(_) => {
                let status = svc.child.try_wait().ok().flatten();
                bail!(
                    "{what} did not print its address within {START_LIMIT:?} (exit: {status:?})\n{}",
                    svc.log_tail()
                );
            }
        }
        Ok(svc)
    }

    fn log_tail(&self) -> String {
        let last = self.log.last.lock().unwrap_or_else(PoisonError::into_inner);
        let mut s = String::from("last warnings/errors of the child:");
        for l in last.iter() {
            s.push_str("\n  ");
            s.push_str(l);
        }
        s
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }
}

/// Reads `pipe` line by line until EOF, so the child never blocks on it.
fn drain(pipe: impl std::io::Read, mut each: impl FnMut(&[u8])) {
    let mut reader = BufReader::with_capacity(64 * 1024, pipe);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => each(&line),
        }
    }
}

/// The address on a JSON `hookbridge listening` line, or on the minimal
/// receiver's plain one.
fn listening_addr(line: &[u8]) -> Option<SocketAddr> {
    if let Some(rest) = line.strip_prefix(minimal::LISTENING.as_bytes()) {
        return std::str::from_utf8(rest).ok()?.trim().parse().ok();
    }
    if !contains(line, b"hookbridge listening") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let addr = v["fields"]["addr"].as_str().or(v["addr"].as_str())?;
    addr.parse().ok()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------- /proc

#[derive(Debug, Clone, Copy, Default)]
struct ProcStatus {
    rss_kb: u64,
    hwm_kb: u64,
}

fn proc_status(pid: u32) -> ProcStatus {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    ProcStatus {
        rss_kb: kb("VmRSS:"),
        hwm_kb: kb("VmHWM:"),
    }
}

/// (comm, utime + stime ticks) from a `/proc/.../stat` file.
fn stat_ticks(path: &str) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// CPU ticks of the child (total and per thread) and of this process.
struct CpuSnapshot {
    at: Instant,
    child: u64,
    threads: HashMap<String, (String, u64)>,
    bench: u64,
    machine: MachineTicks,
}

/// The `cpu` line of `/proc/stat`: all cores together.
#[derive(Debug, Clone, Copy, Default)]
struct MachineTicks {
    busy: u64,
    steal: u64,
}

fn machine_ticks() -> MachineTicks {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return MachineTicks::default();
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest is in user)
    MachineTicks {
        busy: at(0) + at(1) + at(2) + at(5) + at(6),
        steal: at(7),
    }
}

/// CPU used over an interval, in seconds.
#[derive(Debug, Clone, Default)]
struct CpuUse {
    wall: f64,
    child: f64,
    bench: f64,
    /// Every process on the machine, all cores together.
    machine: f64,
    /// Time the hypervisor gave to other guests.
    steal: f64,
    /// By thread name (several threads may share one).
    child_threads: BTreeMap<String, f64>,
}

impl CpuSnapshot {
    fn take(pid: u32) -> CpuSnapshot {
        let mut threads = HashMap::new();
        if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for entry in dir.flatten() {
                let tid = entry.file_name().to_string_lossy().into_owned();
                if let Some(t) = stat_ticks(&format!("/proc/{pid}/task/{tid}/stat")) {
                    threads.insert(tid, t);
                }
            }
        }
        CpuSnapshot {
            at: Instant::now(),
            child: stat_ticks(&format!("/proc/{pid}/stat")).map_or(0, |t| t.1),
            threads,
            bench: stat_ticks("/proc/self/stat").map_or(0, |t| t.1),
            machine: machine_ticks(),
        }
    }

    fn since(&self, before: &CpuSnapshot) -> CpuUse {
        let secs = |ticks: u64| ticks as f64 / TICKS_PER_SEC;
        let mut child_threads = BTreeMap::new();
        let mut seen = 0;
        for (tid, (comm, ticks)) in &self.threads {
            let start = before.threads.get(tid).map_or(0, |t| t.1);
            let d = ticks.saturating_sub(start);
            seen += d;
            *child_threads.entry(comm.clone()).or_insert(0.0) += secs(d);
        }
        let total = self.child.saturating_sub(before.child);
        if total > seen {
            child_threads.insert("(threads that exited)".into(), secs(total - seen));
        }
        CpuUse {
            wall: self.at.duration_since(before.at).as_secs_f64(),
            child: secs(total),
            bench: secs(self.bench.saturating_sub(before.bench)),
            machine: secs(self.machine.busy.saturating_sub(before.machine.busy)),
            steal: secs(self.machine.steal.saturating_sub(before.machine.steal)),
            child_threads,
        }
    }
}

// ---------------------------------------------------------------- load

/// One precomputed signed request; each connection copies it once and
/// writes the delivery id's digits in place.
struct LoadTemplate {
    /// The services the connections go to, in turn (a load balancer's
    /// round robin): one unless [`LoadTemplate::across`].
    addrs: Vec<SocketAddr>,
    request: Vec<u8>,
    id_at: usize,
}

impl LoadTemplate {
    fn new(addr: SocketAddr, body: &[u8], tag: u8) -> LoadTemplate {
        let signature = sign(body).unwrap_or_default();
        let mut request = format!(
            "POST /hooks/github HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             User-Agent: GitHub-Hookshot/bench\r\nX-GitHub-Event: push\r\n\
             X-Hub-Signature-256: sha256={signature}\r\nContent-Length: {}\r\n\
             X-GitHub-Delivery: bench-{}-",
            body.len(),
            tag as char
        )
        .into_bytes();
        let id_at = request.len();
        request.extend_from_slice(&[b'0'; ID_DIGITS]);
        request.extend_from_slice(b"\r\n\r\n");
        request.extend_from_slice(body);
        LoadTemplate {
            addrs: vec![addr],
            request,
            id_at,
        }
    }

    /// The same requests, the connections spread over `addrs`.
    fn across(mut self, addrs: Vec<SocketAddr>) -> LoadTemplate {
        self.addrs = addrs;
        self
    }
}

#[derive(Debug, Default)]
struct LoadResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    /// Round trips of accepted requests, microseconds, sorted.
    latencies_us: Vec<u32>,
    elapsed: Duration,
    /// Stopped by [`RUN_LIMIT`] before the count was reached.
    truncated: bool,
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Nearest-rank percentile, microseconds.
    fn percentile(&self, q: f64) -> u32 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies_us[rank - 1]
    }

    fn max(&self) -> u32 {
        self.latencies_us.last().copied().unwrap_or(0)
    }

    /// `p50 / p99 / max` in milliseconds, for the report.
    fn latency_cell(&self) -> String {
        format!(
            "{:.2} / {:.2} / {:.2} ms",
            ms(self.percentile(0.5)),
            ms(self.percentile(0.99)),
            ms(self.max())
        )
    }

    /// The progress line printed after a run.
    fn summary(&self) -> String {
        format!(
            "    {:.0}/s, {} errors, p99 {:.2} ms",
            self.rate(),
            self.errors,
            ms(self.percentile(0.99))
        )
    }
}

/// What one connection task brings back.
#[derive(Default)]
struct ConnResult {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    latencies_us: Vec<u32>,
}

/// Sends `count` requests over [`CONNS`] connections, ids `first..`;
/// expects 202 for each. Without a `rate`, each connection sends its next
/// request as soon as the last is answered (closed loop: the most the
/// service takes); with one, request `i` is due `i / rate` seconds after
/// the start (open loop: latency at that load).
async fn drive(
    load: &LoadTemplate,
    first: u64,
    count: u64,
    record: bool,
    rate: Option<f64>,
) -> LoadResult {
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let request = Arc::new(load.request.clone());
    let started = Instant::now();
    let deadline = started + RUN_LIMIT;
    let mut tasks = Vec::with_capacity(CONNS);
    for k in 0..CONNS {
        let (next, stop, request) = (next.clone(), stop.clone(), request.clone());
        let (addr, id_at) = (load.addrs[k % load.addrs.len()], load.id_at);
        tasks.push(tokio::spawn(async move {
            let pace = rate.map(|r| (started, r));
            connection(
                addr, &request, id_at, first, count, &next, &stop, deadline, record, pace,
            )
            .await
        }));
    }
    let mut result = LoadResult::default();
    for t in tasks {
        match t.await {
            Ok(c) => {
                result.ok += c.ok;
                result.errors += c.errors;
                if result.first_error.is_none() {
                    result.first_error = c.first_error;
                }
                result.latencies_us.extend(c.latencies_us);
            }
            Err(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(format!("load task: {e}"));
            }
        }
    }
    result.elapsed = started.elapsed();
    result.truncated = stop.load(Ordering::Relaxed);
    result.latencies_us.sort_unstable();
    result
}

#[allow(clippy::too_many_arguments)]
async fn connection(
    addr: SocketAddr,
    template: &[u8],
    id_at: usize,
    first: u64,
    count: u64,
    next: &AtomicU64,
    stop: &AtomicBool,
    deadline: Instant,
    record: bool,
    pace: Option<(Instant, f64)>,
) -> ConnResult {
    let mut out = ConnResult::default();
    if record {
        out.latencies_us.reserve((count as usize / CONNS) * 2 + 64);
    }
    let fail = |out: &mut ConnResult, why: String| {
        out.errors += 1;
        out.first_error.get_or_insert(why);
    };
    let mut request = template.to_vec();
    let mut rbuf = Vec::with_capacity(16 * 1024);
    let mut stream = None;
    let mut reconnects = 0;
    // When the previous answer arrived.
    let mut free_at = Instant::now();
    loop {
        if Instant::now() >= deadline {
            stop.store(true, Ordering::Relaxed);
            return out;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= count {
            return out;
        }
        let s = match stream.as_mut() {
            Some(s) => s,
            None => match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    rbuf.clear();
                    stream.insert(s)
                }
                Err(e) => {
                    fail(&mut out, format!("connect {addr}: {e}"));
                    return out;
                }
            },
        };
        write_digits(&mut request[id_at..id_at + ID_DIGITS], first + i);
        let due = pace.map(|(start, rate)| start + Duration::from_secs_f64(i as f64 / rate));
        if let Some(due) = due
            && due > Instant::now()
        {
            tokio::time::sleep_until(due.into()).await;
        }
        let sent = Instant::now();
        let answer = tokio::time::timeout(REQUEST_LIMIT, round_trip(s, &request, &mut rbuf)).await;
        let done = Instant::now();
        // Open loop: a request its connection could not send when due (the
        // previous answer had not come) counts from when it was due; one
        // sent late only because the timer woke late counts from its send.
        let from = match due {
            Some(due) if free_at > due => due,
            _ => sent,
        };
        free_at = done;
        let took = done - from;
        match answer {
            Ok(Ok(202)) => {
                out.ok += 1;
                if record {
                    out.latencies_us
                        .push(took.as_micros().min(u32::MAX as u128) as u32);
                }
            }
            Ok(Ok(status)) => fail(&mut out, format!("HTTP {status} (expected 202)")),
            Ok(Err(e)) => {
                fail(&mut out, format!("request: {e}"));
                stream = None;
                reconnects += 1;
            }
            Err(_) => {
                fail(&mut out, format!("no answer within {REQUEST_LIMIT:?}"));
                stream = None;
                reconnects += 1;
            }
        }
        if reconnects > MAX_RECONNECTS {
            return out;
        }
    }
}

fn write_digits(dst: &mut [u8], mut n: u64) {
    for d in dst.iter_mut().rev() {
        *d = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Writes one request, reads one response; returns its status code.
async fn round_trip(
    stream: &mut TcpStream,
    request: &[u8],
    rbuf: &mut Vec<u8>,
) -> std::io::Result<u16> {
    stream.write_all(request).await?;
    let (head, len) = read_message(stream, rbuf)
        .await?
        .ok_or_else(|| io_error("connection closed before the answer"))?;
    let status = rbuf
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io_error("malformed status line"))?;
    rbuf.drain(..head + len);
    Ok(status)
}

fn io_error(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string())
}

/// Reads one HTTP/1.1 message (head and a Content-Length body) into `buf`,
/// which may already hold its start. Returns (head length, body length), or
/// `None` on a clean EOF before any byte.
async fn read_message(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<(usize, usize)>> {
    let mut scanned = 0;
    let head = loop {
        if let Some(p) = find(&buf[scanned..], b"\r\n\r\n") {
            break scanned + p + 4;
        }
        scanned = buf.len().saturating_sub(3);
        if buf.len() > 64 * 1024 {
            return Err(io_error("message head larger than 64 KiB"));
        }
        buf.reserve(16 * 1024);
        if stream.read_buf(buf).await? == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io_error("connection closed mid-message"))
            };
        }
    };
    let len = content_length(&buf[..head])?;
    while buf.len() < head + len {
        buf.reserve(head + len - buf.len());
        if stream.read_buf(buf).await? == 0 {
            return Err(io_error("connection closed mid-body"));
        }
    }
    Ok(Some((head, len)))
}

fn content_length(head: &[u8]) -> std::io::Result<usize> {
    let text = std::str::from_utf8(head).map_err(|_| io_error("head is not UTF-8"))?;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            return value
                .trim()
                .parse()
                .map_err(|_| io_error("bad Content-Length"));
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(io_error("chunked bodies are not supported by the bench"));
        }
    }
    Ok(0)
}

// ---------------------------------------------------------------- stand-in

/// A loopback Slack Web API: answers `POST /api/chat.postMessage` with
/// `{"ok":true,...}` and counts. With the gate closed, requests are held
/// (not counted) until it opens.
struct StandIn {
    addr: SocketAddr,
    state: Arc<StandInState>,
    accept: JoinHandle<()>,
}

struct StandInState {
    received: AtomicU64,
    bad: AtomicU64,
    target: AtomicU64,
    reached: Notify,
    gate: watch::Sender<bool>,
}

const SLACK_OK: &str = r#"{"ok":true,"channel":"C1","ts":"1.2"}"#;

impl StandIn {
    async fn start(open: bool) -> anyhow::Result<StandIn> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .context("cannot bind the Slack stand-in")?;
        let addr = listener.local_addr().context("stand-in address")?;
        let state = Arc::new(StandInState {
            received: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            target: AtomicU64::new(u64::MAX),
            reached: Notify::new(),
            gate: watch::channel(open).0,
        });
        let response: Arc<[u8]> = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{SLACK_OK}",
            SLACK_OK.len()
        )
        .into_bytes()
        .into();
        let shared = state.clone();
        // Ends when the stand-in is dropped (aborted) or the runtime ends.
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(stand_in_connection(
                    stream,
                    shared.clone(),
                    response.clone(),
                ));
            }
        });
        Ok(StandIn {
            addr,
            state,
            accept,
        })
    }

    fn api_base(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    fn open_gate(&self) {
        self.state.gate.send_replace(true);
    }

    fn received(&self) -> u64 {
        self.state.received.load(Ordering::SeqCst)
    }

    fn bad(&self) -> u64 {
        self.state.bad.load(Ordering::SeqCst)
    }

    /// Waits until `n` posts were answered, at most `limit`. True if so.
    async fn wait_received(&self, n: u64, limit: Duration) -> bool {
        self.state.target.store(n, Ordering::SeqCst);
        if self.received() >= n {
            return true;
        }
        let _ = tokio::time::timeout(limit, self.state.reached.notified()).await;
        self.received() >= n
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn stand_in_connection(mut stream: TcpStream, state: Arc<StandInState>, response: Arc<[u8]>) {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut gate = state.gate.subscribe();
    // One request per iteration; ends when the client closes.
    loop {
        let (head, len) = match read_message(&mut stream, &mut buf).await {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(_) => {
                state.bad.fetch_add(1, Ordering::SeqCst);
                return;
            }
        };
        if !buf.starts_with(b"POST ") || !contains(&buf[..head], b"/chat.postMessage ") {
            state.bad.fetch_add(1, Ordering::SeqCst);
            let _ = stream
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .await;
            buf.drain(..head + len);
            continue;
        }
        buf.drain(..head + len);
        if gate.wait_for(|open| *open).await.is_err() {
            return;
        }
        let n = state.received.fetch_add(1, Ordering::SeqCst) + 1;
        if n == state.target.load(Ordering::SeqCst) {
            state.reached.notify_one();
        }
        if stream.write_all(&response).await.is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------- report

#[derive(Default)]
struct Report {
    accept: Vec<AcceptResult>,
    drain: Vec<DrainResult>,
    rss: Option<RssResult>,
    postgres: Option<PgBench>,
}

fn ms(us: u32) -> f64 {
    f64::from(us) / 1000.0
}

fn mb(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

/// The median of `values` (0 when there are none).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

/// 12345.6 -> "12,346".
fn thousands(x: f64) -> String {
    let n = x.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One row of the CPU table: what ran while `items` went through.
fn cpu_row(s: &mut String, run: &str, cpu: &CpuUse, items: u64) {
    let pct = |x: f64| 100.0 * x / cpu.wall.max(1e-9);
    let threads: Vec<String> = cpu
        .child_threads
        .iter()
        .filter(|(_, x)| pct(**x) >= 0.5)
        .map(|(name, x)| format!("{name} {:.0}%", pct(*x)))
        .collect();
    let other = (cpu.machine - cpu.child - cpu.bench).max(0.0);
    let _ = writeln!(
        s,
        "| {run} | {:.0} µs | {:.0}% ({}) | {:.0}% | {:.0}% | {:.0}% |",
        cpu.child * 1e6 / items.max(1) as f64,
        pct(cpu.child),
        threads.join(", "),
        pct(cpu.bench),
        pct(other),
        pct(cpu.steal),
    );
}

/// One service against another over the rounds both ran: ratios within
/// each round (two services minutes apart would measure the machine's
/// drift), then their median.
struct SameRound {
    rounds: usize,
    /// Median of the per-round throughput ratios.
    rate: f64,
    /// Median of the per-round closed-loop p99 ratios.
    p99: f64,
    /// The median p99 of each, microseconds.
    p99_us: (f64, f64),
}

impl SameRound {
    fn of(a: &AcceptResult, b: &AcceptResult) -> SameRound {
        let pairs = || {
            a.rounds
                .iter()
                .zip(&b.rounds)
                .map(|((a, _), (b, _))| (a, b))
        };
        let p99 = |l: &LoadResult| f64::from(l.percentile(0.99));
        SameRound {
            rounds: pairs().count(),
            rate: median(pairs().map(|(a, b)| a.rate() / b.rate().max(1e-9))),
            p99: median(pairs().map(|(a, b)| p99(a) / p99(b).max(1.0))),
            p99_us: (
                median(pairs().map(|(a, _)| p99(a))),
                median(pairs().map(|(_, b)| p99(b))),
            ),
        }
    }
}

impl Report {
    fn markdown(&self, body_len: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "### hookbridge throughput (`cargo bench --bench throughput`)\n\n\
             2 CPU cores shared by the service and the bench (load generator and Slack \
             stand-in, one process), all on 127.0.0.1. (1) signed GitHub `push` of {body_len} \
             bytes, {CONNS} keep-alive connections, {WARMUP} warm-up, each request a new \
             `X-GitHub-Delivery`, routed to a Slack stand-in at its normal pace (1/s): \
             {ROUNDS} rounds of {MEASURED} requests alternating between the durable service, \
             the memory service and the minimal receiver, closed loop (each connection sends \
             again as soon as it is answered: the most the service takes; rows show each \
             one's median round), \
             then {PACED} requests offered at {PACED_RATE}/s over the same \
             connections, open loop (latency counted from when a request was due, so a slow \
             answer that delays the next request counts against the service). \
             (2) {OUTBOX_MESSAGES} messages queued while the stand-in holds its answers, timed \
             from releasing it until all arrived, `min_interval = \"0s\"`. (3) durable store, \
             the sink's port refuses connections, so every message stays pending.\n\n\
             The minimal receiver is a reference, not hookbridge (`benches/throughput/minimal.rs`, \
             its own process): the least a durable webhook receiver can do. poem on a default \
             tokio runtime, the body read (capped at 25 MiB), `X-Hub-Signature-256` checked \
             (HMAC-SHA256, constant time), the JSON parsed into the fields routing needs, and \
             one SQLite writer thread (WAL, `synchronous=FULL`, 4 KiB pages) inserting every \
             waiting delivery in one transaction, deduplicated on (source, delivery id), \
             committing, then answering 202. No routing, rendering, outbox, limits, metrics \
             or logs. The durable store's throughput as a ratio of it is the project's \
             yardstick (target ≥ 0.6×, p99 < 5 ms).\n"
        );
        let _ = writeln!(s, "| # | measurement | result | target | |");
        let _ = writeln!(s, "|---|---|---|---|---|");
        let durable = self.accept.iter().find(|a| a.label == "durable");
        let memory = self.accept.iter().find(|a| a.label == "memory");
        let minimal = self.accept.iter().find(|a| a.label == "minimal");
        for a in &self.accept {
            let l = a.load();
            let is_durable = a.label == "durable";
            let name = match a.label {
                "durable" => "durable store (WAL, synchronous=FULL)",
                "memory" => "`--store :memory:` (reference)",
                _ => "minimal receiver (reference: poem, HMAC, serde, SQLite group commit)",
            };
            let (rate_target, lat_target) = if is_durable {
                let p99 = l.percentile(0.99);
                (
                    format!(
                        "≥ 10,000/s | {}",
                        mark(l.rate() >= 10_000.0 && !l.truncated && l.errors == 0)
                    ),
                    format!("p99 < 5 ms | {}", mark(p99 < 5_000 && l.ok > 0)),
                )
            } else {
                ("– | ".into(), "– | ".into())
            };
            let errors = if l.errors == 0 {
                String::new()
            } else {
                format!(
                    "; **{} non-202 or failed** (first: {})",
                    l.errors,
                    l.first_error.as_deref().unwrap_or("?")
                )
            };
            let _ = writeln!(
                s,
                "| 1 | accepted deliveries/s, {name} | {}/s ({} in {:.2} s{}{errors}) | {rate_target} |",
                thousands(l.rate()),
                thousands(l.ok as f64),
                l.elapsed.as_secs_f64(),
                if l.truncated {
                    ", stopped by the time limit"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                s,
                "| 1 | latency p50 / p99 / max, {}, closed loop (at the rate above) | {} | {lat_target} |",
                a.label,
                l.latency_cell()
            );
            let rounds: Vec<String> = a
                .rounds
                .iter()
                .map(|(r, _)| format!("{}/s {:.2} ms", thousands(r.rate()), ms(r.percentile(0.99))))
                .collect();
            let _ = writeln!(
                s,
                "| 1 | each round, {}: deliveries/s and p99 | {} | – | |",
                a.label,
                rounds.join(" · ")
            );
            let p = &a.paced;
            let paced_target = if is_durable {
                format!(
                    "p99 < 5 ms | {}",
                    mark(p.percentile(0.99) < 5_000 && p.ok > 0 && p.errors == 0)
                )
            } else {
                "– | ".into()
            };
            let _ = writeln!(
                s,
                "| 1 | latency p50 / p99 / max, {}, open loop at {}/s offered ({}/s served) | {} | {paced_target} |",
                a.label,
                thousands(PACED_RATE),
                thousands(p.rate()),
                p.latency_cell()
            );
        }
        if let Some(d) = durable {
            for (other, name) in [(minimal, "minimal receiver"), (memory, "memory")] {
                let Some(o) = other else { continue };
                let c = SameRound::of(d, o);
                let target = if o.label == "minimal" {
                    format!(
                        "≥ 0.6×, p99 < 5 ms | {}",
                        mark(c.rate >= 0.6 && c.p99_us.0 < 5_000.0 && c.rounds > 0)
                    )
                } else {
                    "– | ".into()
                };
                let _ = writeln!(
                    s,
                    "| 1 | durable / {name}, same round (median of {}) | throughput {:.2}×; closed-loop p99 {:.2} vs {:.2} ms ({:.2}×) | {target} |",
                    c.rounds,
                    c.rate,
                    c.p99_us.0 / 1000.0,
                    c.p99_us.1 / 1000.0,
                    c.p99
                );
            }
        }
        for d in &self.drain {
            let lanes = if d.lanes == 1 {
                "1 lane (one channel)".to_string()
            } else {
                format!("{} lanes ({} channels)", d.lanes, d.lanes)
            };
            let _ = writeln!(
                s,
                "| 2 | outbox messages/s, {lanes} | {}/s ({} in {:.2} s{}) | – | |",
                thousands(d.rate()),
                thousands(d.received as f64),
                d.elapsed.as_secs_f64(),
                if d.complete {
                    ""
                } else {
                    ", **incomplete: time limit**"
                }
            );
        }
        if let Some(r) = &self.rss {
            let _ = writeln!(
                s,
                "| 3 | RSS idle, right after start | {} MB | – | |",
                mb(r.idle.rss_kb)
            );
            let complete = r.load.ok >= PENDING;
            let _ = writeln!(
                s,
                "| 3 | RSS / peak (VmHWM) with {} pending{} | {} / {} MB | < 100 MB | {} |",
                thousands(r.load.ok as f64),
                if complete {
                    String::new()
                } else {
                    format!(" (**{} failed**)", r.load.errors)
                },
                mb(r.pending.rss_kb),
                mb(r.pending.hwm_kb),
                mark(r.pending.rss_kb < 100 * 1024 && complete)
            );
        }

        let _ = writeln!(
            s,
            "\nWhere the CPU went (% of one core; the machine has 200%; \"other\" is every \
             other process on the machine, \"steal\" the hypervisor's):\n"
        );
        let _ = writeln!(
            s,
            "| run | service CPU per item | service (by thread) | bench | other | steal |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for a in &self.accept {
            let (load, cpu) = a.median();
            cpu_row(
                &mut s,
                &format!("1 accept, {}, median round (per delivery)", a.label),
                cpu,
                load.ok,
            );
        }
        for d in &self.drain {
            cpu_row(
                &mut s,
                &format!("2 drain, {} lane(s) (per message)", d.lanes),
                &d.cpu,
                d.received,
            );
        }

        let mut notes = Vec::new();
        for d in &self.drain {
            notes.push(format!(
                "queueing the {}-lane messages ran at {} deliveries/s ({} message{} each)",
                d.lanes,
                thousands(d.queue.rate()),
                d.lanes,
                if d.lanes == 1 { "" } else { "s" }
            ));
        }
        if let Some(r) = &self.rss {
            notes.push(format!(
                "accepting the {} pending ran at {} deliveries/s; the store is then {} MB on disk",
                thousands(r.load.ok as f64),
                thousands(r.load.rate()),
                mb(r.db_bytes / 1024)
            ));
        }
        if !self.accept.is_empty() {
            let each: Vec<String> = self
                .accept
                .iter()
                .map(|a| format!("{} {} MB", a.label, mb(a.rss_after_kb)))
                .collect();
            notes.push(format!(
                "RSS after the accept runs: {}{}",
                each.join(", "),
                if memory.is_some() {
                    " (`:memory:` keeps every row in RAM)"
                } else {
                    ""
                }
            ));
        }
        if !notes.is_empty() {
            let _ = writeln!(s, "\nAlso: {}.", notes.join("; "));
        }
        if let Some(pg) = &self.postgres {
            pg.markdown(&mut s);
        }
        s
    }
}

// ---------------------------------------------------------------- postgres

/// Closed-loop rounds of row 4, each store in turn.
const PG_ROUNDS: usize = 3;
/// Requests per store per round in row 4.
const PG_MEASURED: u64 = 20_000;

/// Row 4: per store, its closed-loop rounds.
struct PgBench {
    server: String,
    runs: Vec<(&'static str, Vec<LoadResult>)>,
}

impl PgBench {
    fn markdown(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "\n#### (4) PostgreSQL: one replica and two, beside SQLite\n\n\
             {} rounds of {PG_MEASURED} requests, closed loop, {CONNS} connections, the stores \
             in turn within each round; two replicas: the connections alternate between them \
             (a round robin), both on one database. Server: {}. The table shows the round of \
             median throughput and, in the last column, the median over rounds of the ratio \
             to SQLite in the same round.\n",
            PG_ROUNDS, self.server
        );
        let _ = writeln!(
            s,
            "| store | deliveries/s | p50 / p99 / max | / SQLite, same round |"
        );
        let _ = writeln!(s, "|---|---|---|---|");
        let sqlite = self.runs.iter().find(|(l, _)| *l == "sqlite");
        for (label, rounds) in &self.runs {
            let mut by_rate: Vec<&LoadResult> = rounds.iter().collect();
            by_rate.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
            let Some(mid) = by_rate.get(by_rate.len() / 2) else {
                continue;
            };
            let ratio = match sqlite {
                Some((_, base)) if *label != "sqlite" => {
                    let rate = median(
                        rounds
                            .iter()
                            .zip(base)
                            .map(|(r, b)| r.rate() / b.rate().max(1e-9)),
                    );
                    let p99 = median(rounds.iter().zip(base).map(|(r, b)| {
                        f64::from(r.percentile(0.99)) / f64::from(b.percentile(0.99).max(1))
                    }));
                    format!("throughput {rate:.2}, p99 {p99:.2}")
                }
                _ => "–".into(),
            };
            let name = match *label {
                "sqlite" => "SQLite, durable (reference)",
                "postgres-1" => "PostgreSQL, one replica",
                _ => "PostgreSQL, two replicas",
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {ratio} |",
                thousands(mid.rate()),
                mid.latency_cell()
            );
        }
    }
}

/// A PostgreSQL server for row 4: `HOOKBRIDGE_BENCH_DATABASE_URL`, or one
/// started for the run from Debian's binaries, in a temp dir, on a free
/// loopback port, as the `postgres` user when run as root, with its
/// default durability (fsync on). Killed when dropped.
struct BenchPg {
    url: String,
    server: String,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Drop for BenchPg {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl BenchPg {
    fn start() -> anyhow::Result<Option<BenchPg>> {
        if let Ok(url) = std::env::var("HOOKBRIDGE_BENCH_DATABASE_URL") {
            return Ok(Some(BenchPg {
                url,
                server: "`HOOKBRIDGE_BENCH_DATABASE_URL`".into(),
                child: None,
                _dir: None,
            }));
        }
        let mut bins: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.path().join("bin"))
                    .collect()
            })
            .unwrap_or_default();
        bins.retain(|b| b.join("postgres").is_file() && b.join("initdb").is_file());
        bins.sort();
        let Some(bin) = bins.pop() else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("hookbridge-bench-pg-")
            .tempdir()
            .context("cannot create a temp dir for PostgreSQL")?;
        // PostgreSQL refuses to run as root.
        let as_root = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("Uid:"))?.to_string();
                line.split_whitespace().nth(2).map(|u| u == "0")
            })
            .unwrap_or(false);
        let run = |tool: &str| {
            let mut c = if as_root {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                    .args(["--pdeathsig", "KILL"])
                    .arg(bin.join(tool));
                c
            } else {
                Command::new(bin.join(tool))
            };
            c.stdin(Stdio::null());
            c
        };
        if as_root {
            let ok = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .context("chown the PostgreSQL dir")?;
            if !ok.success() {
                bail!("cannot give {} to the postgres user", dir.path().display());
            }
        }
        let data = dir.path().join("data");
        let out = run("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "hb",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .context("run initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = run("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "shared_buffers=128MB",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start postgres")?;
        let mut pg = BenchPg {
            url: format!("postgres://hb@127.0.0.1:{port}/postgres"),
            server: format!("PostgreSQL from {} on loopback, fsync on", bin.display()),
            child: Some(child),
            _dir: Some(dir),
        };
        let deadline = Instant::now() + START_LIMIT;
        loop {
            let ready = std::fs::read_to_string(data.join("postmaster.pid"))
                .is_ok_and(|t| t.lines().nth(7).is_some_and(|l| l.trim() == "ready"));
            if ready {
                return Ok(Some(pg));
            }
            if Instant::now() > deadline
                || pg
                    .child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some())
            {
                bail!("PostgreSQL did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Row 4: SQLite, one PostgreSQL replica, two, in turn each round.
async fn postgres_runs(dir: &Path, body: &[u8]) -> anyhow::Result<Option<PgBench>> {
    let Some(pg) = BenchPg::start()? else {
        eprintln!(
            "[4] skipped: no PostgreSQL (apt-get install postgresql, or set HOOKBRIDGE_BENCH_DATABASE_URL)"
        );
        return Ok(None);
    };
    let slack = StandIn::start(true).await?;
    let cfg = config(
        &dir.join("pg-reference.db"),
        &slack.api_base(),
        &["#bench"],
        "timeout = \"10s\"",
    );
    let sqlite = Service::start(dir, "pg-reference-sqlite", &cfg, None)?;
    let one = Service::start(dir, "pg-replica-1", &cfg, Some(&pg.url))?;
    let two = Service::start(dir, "pg-replica-2", &cfg, Some(&pg.url))?;
    let loads: Vec<(&'static str, LoadTemplate)> = vec![
        ("sqlite", LoadTemplate::new(sqlite.addr, body, b's')),
        ("postgres-1", LoadTemplate::new(one.addr, body, b'p')),
        (
            "postgres-2",
            LoadTemplate::new(one.addr, body, b'q').across(vec![one.addr, two.addr]),
        ),
    ];
    let mut runs: Vec<(&'static str, Vec<LoadResult>)> = Vec::new();
    for (label, load) in &loads {
        eprintln!("[4] {label}: {WARMUP} warm-up requests");
        let warm = drive(load, 0, WARMUP, false, None).await;
        if warm.ok == 0 {
            bail!(
                "{label}: nothing accepted during warm-up: {}",
                warm.first_error.as_deref().unwrap_or("no error recorded")
            );
        }
        runs.push((label, Vec::new()));
    }
    let mut next = WARMUP;
    for round in 1..=PG_ROUNDS {
        for ((label, load), (_, rounds)) in loads.iter().zip(runs.iter_mut()) {
            eprintln!(
                "[4] {label}, round {round}/{PG_ROUNDS}: {PG_MEASURED} requests, closed loop"
            );
            let r = drive(load, next, PG_MEASURED, true, None).await;
            eprintln!("{}", r.summary());
            rounds.push(r);
        }
        next += PG_MEASURED;
    }
    drop((one, two, sqlite, slack));
    Ok(Some(PgBench {
        server: pg.server.clone(),
        runs,
    }))
}

//! Hostile traffic, as an attacker would send it, over real sockets: the
//! service keeps answering real deliveries and stays within its bounds.
//! Every wave is bounded in count and time.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookbridge::outbox::{Outbox, SinkMap, SqliteStore, Store};
use hookbridge::pipeline::Pipeline;
use hookbridge::server::{AppState, Limits, app};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;
use crate::standin::StandIn;

const SECRET: &str = "hardening-secret";

/// The real binary, started with an open-file limit of `soft` (and `hard`).
struct Limited {
    child: std::process::Child,
    addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Limited {
    fn serve(config: &Path, soft: u64, hard: u64) -> Limited {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookbridge"));
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: setrlimit is async-signal-safe, and nothing else runs
        // between fork and exec.
        unsafe {
            cmd.pre_exec(move || rlimit::setrlimit(rlimit::Resource::NOFILE, soft, hard));
        }
        let mut child = cmd.spawn().expect("spawn hookbridge");
        let stderr = Arc::new(Mutex::new(String::new()));
        let err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("hookbridge listening")
                    && let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && let Some(a) = v["fields"]["addr"].as_str()
                {
                    let _ = tx.send(a.to_string());
                }
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("hookbridge did not start:\n{}", stderr.lock().unwrap());
        };
        Limited {
            child,
            addr,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The soft open-file limit the process runs with.
    fn open_file_limit(&self) -> u64 {
        let limits = std::fs::read_to_string(format!("/proc/{}/limits", self.child.id())).unwrap();
        let line = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap();
        line.split_whitespace().nth(3).unwrap().parse().unwrap()
    }

    /// CPU time the process has used so far (user + system).
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // the fields after the command name, which ends with `)`
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // /proc counts in USER_HZ, 100 a second on Linux
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GitHub with a secret, every delivery to a Slack webhook at `standin`.
fn slack_config(dir: &Path, standin: &StandIn) -> std::path::PathBuf {
    let path = dir.join("bridge.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\npath = \"{db}\"\n[delivery]\nmin_interval = \"0s\"\n\
             [sources.github]\nkind = \"github\"\nsecret = \"{SECRET}\"\n\
             [sinks.chat]\nkind = \"slack\"\nwebhook_url = \"{hook}\"\n\
             [[routes]]\nto = [\"chat\"]\n",
            db = dir.join("hb.db").display(),
            hook = standin.slack_webhook_url("T0K3N"),
        ),
    )
    .unwrap();
    path
}

/// Up to `n` connections that each send the first line of a request and
/// nothing more (slowloris): no secret needed. Stops early when a
/// connection is not taken within a second (the server's queue is full).
async fn slowloris(addr: &str, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let connect = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr));
        let Ok(Ok(mut s)) = connect.await else {
            break;
        };
        if s.write_all(b"POST /hooks/github HTTP/1.1\r\n")
            .await
            .is_err()
        {
            continue;
        }
        held.push(s);
    }
    held
}

/// POSTs signed delivery `n` on a new connection; its status, or `None`
/// when no answer came within `within`.
async fn deliver(addr: &str, n: usize, within: Duration) -> Option<u16> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let (headers, body) = numbered_issue(SECRET, n);
    let mut req = client
        .post(format!("http://{addr}/hooks/github"))
        .body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    match tokio::time::timeout(within, req.send()).await {
        Ok(Ok(r)) => Some(r.status().as_u16()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Limited::serve(&slack_config(dir.path(), &standin), 256, 2048);
    assert_eq!(svc.open_file_limit(), 2048, "{}", svc.stderr());
}

/// Slowloris under a low open-file limit: 256 files, so at most 192
/// connections. Waves of connections that never finish their request line
/// come before and between signed deliveries; each delivery is answered 202
/// within a second, its message reaches the platform (the sends need files
/// too), the cap is said once in the log, and the process does not spin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_wave_leaves_signed_deliveries_answered() {
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Limited::serve(&slack_config(dir.path(), &standin), 256, 256);
    let addr = svc.addr.clone();

    let mut held = slowloris(&addr, 600).await;
    for n in 1..=5 {
        held.extend(slowloris(&addr, 100).await);
        let started = Instant::now();
        let status = deliver(&addr, n, Duration::from_secs(1)).await;
        assert_eq!(
            status,
            Some(202),
            "delivery {n} after {} slowloris connections: {:?}\n{}",
            held.len(),
            started.elapsed(),
            svc.stderr()
        );
    }
    standin.wait_for(5).await;

    // With the attackers' connections still held, the process idles.
    let before = svc.cpu_time();
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = svc.cpu_time() - before;
    assert!(
        used < window.elapsed() / 4,
        "{used:?} of CPU in {:?} with {} connections held",
        window.elapsed(),
        held.len()
    );

    let stderr = svc.stderr();
    let cap_lines = stderr.matches("connection cap reached").count();
    assert!(
        (1..=2).contains(&cap_lines),
        "the cap is logged, rate-limited: {cap_lines} lines\n{stderr}"
    );
    assert!(!stderr.contains("Too many open files"), "{stderr}");
    drop(held);
}

/// The routes over an in-memory store, served by `hookbridge::server::serve`
/// with `limits`, on 127.0.0.1:0.
struct Serving {
    addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Serving {
    async fn start(limits: Limits) -> Serving {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.toml");
        std::fs::write(
            &path,
            format!("[sources.github]\nkind = \"github\"\nsecret = \"{SECRET}\"\n"),
        )
        .unwrap();
        let pipeline = Pipeline::load(&path).unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_memory().unwrap());
        let outbox = Outbox::start(
            store.clone(),
            SinkMap::new(),
            pipeline.config.delivery.clone(),
            pipeline.renderer.clone(),
        )
        .await;
        let state = Arc::new(AppState::new(pipeline, store, outbox, None));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(hookbridge::server::serve(
            listener,
            app(state),
            limits,
            async {
                let _ = rx.await;
            },
            Duration::from_secs(5),
        ));
        Serving { addr, stop, server }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
    }
}

/// Reads until the server closes `s`; how long that took, or `None` if it
/// kept the connection open for `most`.
async fn closed_within(s: &mut TcpStream, most: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 256];
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(most, read_all)
        .await
        .ok()
        .map(|()| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_have_a_deadline_however_they_trickle() {
    let serving = Serving::start(Limits {
        header_read_timeout: Duration::from_millis(500),
        ..Limits::default()
    })
    .await;
    // the request line only
    let mut half = TcpStream::connect(&serving.addr).await.unwrap();
    half.write_all(b"POST /hooks/github HTTP/1.1\r\n")
        .await
        .unwrap();
    // a header byte every 100 ms: each byte is progress, the deadline is
    // for the whole head
    let mut trickle = TcpStream::connect(&serving.addr).await.unwrap();
    let (mut rd, mut wr) = trickle.split();
    let head = b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n";
    let writer = async {
        for b in head {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let reader = async {
        let mut buf = [0u8; 64];
        let started = Instant::now();
        let _ = tokio::time::timeout(Duration::from_secs(5), rd.read(&mut buf)).await;
        started.elapsed()
    };
    let ((), trickled) = tokio::join!(writer, reader);
    assert!(
        trickled < Duration::from_secs(2),
        "a trickled head held the connection {trickled:?}"
    );
    let took = closed_within(&mut half, Duration::from_secs(5)).await;
    assert!(
        took.is_some_and(|d| d < Duration::from_secs(2)),
        "a half request held the connection: {took:?}"
    );
    // a whole request is still answered
    let status = reqwest::get(format!("http://{}/healthz", serving.addr))
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    drop(trickle);
    serving.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_idle_connections_give_way_to_new_ones() {
    let serving = Serving::start(Limits {
        max_connections: 8,
        ..Limits::default()
    })
    .await;
    // the cap, and then some, in connections that never send a byte
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(&serving.addr).await.unwrap());
    }
    for _ in 0..3 {
        let r = tokio::time::timeout(
            Duration::from_secs(2),
            reqwest::get(format!("http://{}/healthz", serving.addr)),
        )
        .await
        .expect("answered within 2 s at the cap")
        .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    // the oldest idle ones were closed to make room
    let closed = closed_within(&mut idle[0], Duration::from_secs(2)).await;
    assert!(
        closed.is_some(),
        "the longest-idle connection is still open"
    );
    serving.stop().await;
}

/// Up to `n` connections that each send the head of a delivery announcing
/// `declared` bytes and then `sent` bytes of it, and stall. Stops early
/// when a connection is not taken within a second.
async fn slow_bodies(addr: &str, n: usize, declared: usize, sent: usize) -> Vec<TcpStream> {
    let head = format!(
        "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n\
         Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    );
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let connect = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(addr));
        let Ok(Ok(mut s)) = connect.await else {
            break;
        };
        let mut bytes = head.clone().into_bytes();
        bytes.resize(bytes.len() + sent, b' ');
        if s.write_all(&bytes).await.is_err() {
            continue;
        }
        held.push(s);
    }
    held
}

/// GitHub with a secret, every delivery routed to stdout.
const ROUTED: &str = "[sources.github]\nkind = \"github\"\nsecret = \"hardening-secret\"\n\
                      [sinks.c]\nkind = \"stdout\"\n[[routes]]\nto = [\"c\"]\n";

/// Bodies announced at 25 MiB that send one byte each: they take the body
/// budget only for what they sent, so a 4 MiB budget (64 KiB a request, if
/// taken up front) still has room for real deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wave_of_slow_bodies_leaves_signed_deliveries_answered() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_memory().unwrap());
    let served = Served::start(ROUTED, store, |s| s.with_body_budget(4 << 20)).await;
    let held = slow_bodies(&served.addr, 200, 25 << 20, 1).await;
    assert_eq!(held.len(), 200);
    for n in 1..=3 {
        let status = deliver(&served.addr, n, Duration::from_secs(5)).await;
        assert_eq!(status, Some(202), "delivery {n}");
    }
    drop(held);
    served.stop().await;
}

/// One sender that has sent nearly the whole budget does not hold it: past
/// its share (an eighth) it is answered 413, and deliveries still get in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_large_upload_does_not_take_the_whole_budget() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_memory().unwrap());
    let served = Served::start(
        &format!("[server]\nmax_body_bytes = 26214400\n{ROUTED}"),
        store,
        |s| s.with_body_budget(4 << 20),
    )
    .await;
    let mut s = TcpStream::connect(&served.addr).await.unwrap();
    let head = "POST /hooks/github HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n\
                Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let mut chunk = b"4000\r\n".to_vec();
    chunk.resize(chunk.len() + 0x4000, b' ');
    chunk.extend_from_slice(b"\r\n");
    // 16 KiB chunks up to 4 MiB less 16 KiB, or until the server stops reading
    let (mut rd, mut wr) = s.into_split();
    let writer = tokio::spawn(async move {
        for _ in 0..255 {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
        }
        wr
    });
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), rd.read(&mut answer))
        .await
        .expect("the large upload is answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let status = deliver(&served.addr, 1, Duration::from_secs(5)).await;
    assert_eq!(status, Some(202));
    drop(writer);
    served.stop().await;
}

/// Slow bodies past the connection cap of a process with 256 files: a
/// body that stalled waits on its client as an idle connection does, and
/// gives way the same, so deliveries are answered within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_past_the_connection_cap_leave_deliveries_answered() {
    let standin = StandIn::start().await;
    let dir = tempfile::tempdir().unwrap();
    let svc = Limited::serve(&slack_config(dir.path(), &standin), 256, 256);
    let addr = svc.addr.clone();
    let mut held = slow_bodies(&addr, 400, 25 << 20, 1).await;
    for n in 1..=3 {
        held.extend(slow_bodies(&addr, 100, 25 << 20, 1).await);
        let status = deliver(&addr, n, Duration::from_secs(1)).await;
        assert_eq!(
            status,
            Some(202),
            "delivery {n} after {} slow bodies\n{}",
            held.len(),
            svc.stderr()
        );
    }
    standin.wait_for(3).await;
    drop(held);
}

/// The peak resident memory of process `pid`, from /proc.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// A signed `issues` delivery whose body is `{"action":"opened", "pad": [`
/// `n` copies of `item` `]}`.
fn padded_issue(n: usize, item: &str, id: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let mut body = String::with_capacity(n * (item.len() + 1) + 64);
    body.push_str("{\"action\":\"opened\",\"pad\":[");
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item);
    }
    body.push_str("]}");
    let body = body.into_bytes();
    let mut h = vec![
        ("X-GitHub-Event".to_string(), "issues".to_string()),
        ("X-GitHub-Delivery".to_string(), id.to_string()),
        ("Content-Type".to_string(), "application/json".to_string()),
    ];
    h.extend(signature_headers("github", SECRET, &body));
    (h, body)
}

/// A signed 25 MiB body of `[],[],…` costs some 600 MB to parse: it is
/// refused 413 before parsing, four at once keep the service's memory low,
/// and a large body of a real payload's shape is still taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_too_costly_to_parse_are_refused_413() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nmax_body_bytes = 26214400\n[store]\npath = \"{}\"\n{ROUTED}",
            dir.path().join("hb.db").display()
        ),
    )
    .unwrap();
    let svc = Proc::serve(&config, &[], &[]);
    let n = (25 << 20) / 3 - 20;
    let mut set = tokio::task::JoinSet::new();
    for i in 0..4 {
        let (h, body) = padded_issue(n, "[]", &format!("costly-{i}"));
        let addr = svc.addr.clone();
        set.spawn(async move {
            let client = reqwest::Client::new();
            let mut req = client.post(format!("{addr}/hooks/github")).body(body);
            for (k, v) in h {
                req = req.header(k, v);
            }
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        });
    }
    for (status, text) in set.join_all().await {
        assert_eq!(status, 413, "{text}");
        assert!(text.contains("JSON values"), "{text}");
    }
    let peak = peak_memory(svc.pid());
    assert!(peak < 400 << 20, "peak memory {} MiB", peak >> 20);
    // 900,000 values in 1.8 MB: scanned, and under the limit
    let (h, body) = padded_issue(900_000, "0", "large-but-real");
    let a = svc.post("github", &h, body).await;
    assert_eq!(a.status, 202, "{}", a.body);
}

/// A body of most of its share, sent in small chunks, is read whole: the
/// buffer's growth stops at the share instead of overshooting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_just_under_its_share_is_read_whole() {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_memory().unwrap());
    // a 1 MiB budget: 128 KiB a request
    let served = Served::start(ROUTED, store, |s| s.with_body_budget(1 << 20)).await;
    // past 126 KiB, where a buffer doubling from 63 KiB would overshoot
    let (h, body) = padded_issue(64_800, "0", "just-under");
    assert!(
        body.len() > 126 << 10 && body.len() < 128 << 10,
        "{}",
        body.len()
    );
    // chunked, 1 KiB at a time
    let mut s = TcpStream::connect(&served.addr).await.unwrap();
    let mut head = String::from("POST /hooks/github HTTP/1.1\r\nHost: x\r\n");
    for (k, v) in h {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(1024) {
        s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        s.write_all(chunk).await.unwrap();
        s.write_all(b"\r\n").await.unwrap();
    }
    s.write_all(b"0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    served.stop().await;
}

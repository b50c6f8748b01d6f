//! Test harness: a real service on 127.0.0.1:0 in a temp dir, the shared
//! fixtures, and the signatures each sender would compute.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Arc;

use hookbridge::outbox::{Outbox, SinkMap, Store};
use hookbridge::pipeline::Pipeline;
use hookbridge::server::{AppState, app};
use hookbridge::service::{self, Running, ServeOptions};
use hookbridge::sources::signature::sign_sha256_hex;
use poem::listener::{Acceptor, Listener, TcpListener};

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(rel: &str) -> Vec<u8> {
    let p = fixtures_dir().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The `.headers` file next to a fixture, as (name, value) pairs.
pub fn fixture_headers(rel: &str) -> Vec<(String, String)> {
    let p = fixtures_dir().join(rel).with_extension("headers");
    let Ok(text) = std::fs::read_to_string(&p) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Every `*.json` payload under a fixture folder, as paths relative to fixtures/.
pub fn fixture_files(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures_dir().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    v.sort();
    v
}

/// The headers a sender of `kind` signs `body` with under `secret`.
pub fn signature_headers(kind: &str, secret: &str, body: &[u8]) -> Vec<(String, String)> {
    let hex = sign_sha256_hex(secret, body);
    match kind {
        "github" => vec![("X-Hub-Signature-256".into(), format!("sha256={hex}"))],
        "gitea" => vec![("X-Gitea-Signature".into(), hex)],
        "forgejo" => vec![("X-Forgejo-Signature".into(), hex)],
        "gogs" => vec![("X-Gogs-Signature".into(), hex)],
        "dagshub" => vec![("X-DagsHub-Signature".into(), hex)],
        "gitlab" => vec![("X-Gitlab-Token".into(), secret.into())],
        "huggingface" => vec![("X-Webhook-Secret".into(), secret.into())],
        other => panic!("no signing for {other}"),
    }
}

/// A service running in this process on a free loopback port.
pub struct Service {
    pub base: String,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    pub client: reqwest::Client,
    running: Option<Running>,
}

pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// POSTs `body` to `<base>/hooks/<source>` with `headers`.
async fn post_hook(
    client: &reqwest::Client,
    base: &str,
    source: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Answer {
    let mut req = client.post(format!("{base}/hooks/{source}")).body(body);
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req.send().await.unwrap();
    Answer {
        status: resp.status().as_u16(),
        body: resp.text().await.unwrap(),
    }
}

impl Service {
    /// Starts a service with `toml` as bridge.toml in a fresh temp dir.
    /// `{dir}` in the text is replaced by that dir.
    pub async fn start(toml: &str) -> Service {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, toml, ServeOptions::default()).await
    }

    pub async fn start_in(dir: tempfile::TempDir, toml: &str, mut opts: ServeOptions) -> Service {
        let config_path = dir.path().join("bridge.toml");
        let text = toml.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(&config_path, text).unwrap();
        let pipeline = Pipeline::load(&config_path).unwrap_or_else(|e| panic!("config: {e}"));
        opts.listen = Some("127.0.0.1:0".parse().unwrap());
        let running = service::start(config_path.clone(), pipeline, opts)
            .await
            .unwrap_or_else(|e| panic!("start: {e:#}"));
        Service {
            base: format!("http://{}", running.addr),
            dir,
            config_path,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            running: Some(running),
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub fn store(&self) -> std::sync::Arc<dyn Store> {
        self.running().store()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// POSTs `body` to /hooks/<source> with `headers`.
    pub async fn post(&self, source: &str, headers: &[(String, String)], body: Vec<u8>) -> Answer {
        post_hook(&self.client, &self.base, source, headers, body).await
    }

    /// POSTs a fixture with its own headers plus a valid signature for `kind`.
    pub async fn post_fixture(&self, source: &str, kind: &str, secret: &str, rel: &str) -> Answer {
        let body = fixture(rel);
        let mut headers = fixture_headers(rel);
        headers.extend(signature_headers(kind, secret, &body));
        self.post(source, &headers, body).await
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.shutdown().await.unwrap();
        }
    }
}

/// Polls `f` until it is true, or panics after `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if f().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real binary, as a child process.
pub struct Proc {
    child: std::process::Child,
    pub addr: String,
    stdout: std::sync::Arc<std::sync::Mutex<String>>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    /// Held open and never read, for [`Proc::serve_stdout_unread`].
    _unread: Option<std::process::ChildStdout>,
}

impl Proc {
    /// Runs `hookbridge serve --config <config> --listen 127.0.0.1:0 <args>`
    /// and waits for it to listen.
    pub fn serve(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Proc {
        Proc::start(config, args, env, true)
    }

    /// As [`Proc::serve`], with a stdout pipe nobody reads: once its buffer
    /// is full, every write to stdout blocks.
    pub fn serve_stdout_unread(config: &Path, env: &[(&str, &str)]) -> Proc {
        Proc::start(config, &[], env, false)
    }

    fn start(config: &Path, args: &[&str], env: &[(&str, &str)], read_stdout: bool) -> Proc {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookbridge"));
        cmd.arg("serve")
            .arg("--config")
            .arg(config)
            .args(["--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn hookbridge");
        let stdout = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let out = child.stdout.take().unwrap();
        let mut unread = None;
        if read_stdout {
            let sink = stdout.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    let mut s = sink.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        } else {
            unread = Some(out);
        }
        let err = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let (tx, rx) = std::sync::mpsc::channel();
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
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!("hookbridge did not start:\n{}", stderr.lock().unwrap());
            }
        };
        Proc {
            child,
            addr: format!("http://{addr}"),
            stdout,
            stderr,
            _unread: unread,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends a signal by name (`TERM`, `HUP`).
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(ok.success());
    }

    /// Waits for the process to exit, at most `secs`.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("hookbridge did not exit:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub async fn post(&self, source: &str, headers: &[(String, String)], body: Vec<u8>) -> Answer {
        post_hook(&reqwest::Client::new(), &self.addr, source, headers, body).await
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GitHub `issues.opened` delivery with its own id and title: small,
/// signed, and recognisable in what a stand-in receives.
pub fn numbered_issue(secret: &str, n: usize) -> (Vec<(String, String)>, Vec<u8>) {
    let body = serde_json::json!({
        "action": "opened",
        "issue": {"number": n, "title": format!("issue-{n:04}"), "html_url": format!("https://github.com/acme/api/issues/{n}"), "labels": []},
        "repository": {"full_name": "acme/api", "html_url": "https://github.com/acme/api"},
        "sender": {"login": "alice"}
    })
    .to_string()
    .into_bytes();
    let mut h = vec![
        ("X-GitHub-Event".to_string(), "issues".to_string()),
        ("X-GitHub-Delivery".to_string(), format!("delivery-{n}")),
        ("Content-Type".to_string(), "application/json".to_string()),
    ];
    h.extend(signature_headers("github", secret, &body));
    (h, body)
}

/// The `issue-NNNN` marker in a message text.
pub fn issue_marker(text: &str) -> Option<String> {
    let i = text.find("issue-")?;
    text.get(i..i + 10).map(str::to_string)
}

/// The routes over an `AppState` of its own, on 127.0.0.1:0.
pub struct Served {
    pub addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    outbox: Arc<Outbox>,
}

impl Served {
    /// Serves `toml` (`{dir}` is a fresh temp dir) over `store`, with
    /// `tune` applied to the state before it is shared.
    pub async fn start(
        toml: &str,
        store: Arc<dyn Store>,
        tune: fn(AppState) -> AppState,
    ) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bridge.toml");
        std::fs::write(
            &path,
            toml.replace("{dir}", &dir.path().display().to_string()),
        )
        .unwrap();
        let pipeline = Pipeline::load(&path).unwrap();
        let outbox = Outbox::start(
            store.clone(),
            SinkMap::new(),
            pipeline.config.delivery.clone(),
            pipeline.renderer.clone(),
        )
        .await;
        let state = Arc::new(tune(AppState::new(pipeline, store, outbox.clone(), None)));
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            poem::Server::new_with_acceptor(acceptor).run_with_graceful_shutdown(
                app(state),
                async {
                    let _ = rx.await;
                },
                Some(std::time::Duration::from_secs(5)),
            ),
        );
        Served {
            addr: addr.to_string(),
            stop,
            server,
            outbox,
        }
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.server.await.unwrap().unwrap();
        self.outbox.shutdown().await;
    }
}

/// The error a store returns when SQLite finds the disk full.
pub fn disk_full() -> hookbridge::outbox::StoreError {
    use rusqlite::ffi;
    hookbridge::outbox::StoreError::from(rusqlite::Error::SqliteFailure(
        ffi::Error::new(ffi::SQLITE_FULL),
        Some("database or disk is full".into()),
    ))
}

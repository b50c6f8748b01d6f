//! A real PostgreSQL server for the tests: `initdb` in a temp dir, then
//! `postgres` as a child process on a free loopback port, with password
//! (SCRAM) authentication over TCP. PostgreSQL refuses to run as root, so
//! as root it runs as the `postgres` user (or `nobody`) through `setpriv`,
//! which also makes it die with the thread that started it.
//!
//! [`shared`] is one server per test process (each test takes a database
//! of its own with [`PgServer::database`]); [`PgServer::private`] is a
//! server of one test's own, which it may stop and start again.
//!
//! Without PostgreSQL's binaries ([`bin_dir`]) the tests print "skipped:
//! PostgreSQL not installed (...)" and pass, unless `CI` is set: then they
//! fail, so CI never passes without running them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The superuser the clusters are made with, and its password.
pub const USER: &str = "hb";
pub const PASSWORD: &str = "pg-pw-5d1c9e";

/// Where PostgreSQL's server binaries are: `HOOKBRIDGE_PG_BIN`, or the
/// newest `/usr/lib/postgresql/<version>/bin` (Debian's layout).
pub fn bin_dir() -> Option<PathBuf> {
    let has = |d: &Path| d.join("postgres").is_file() && d.join("initdb").is_file();
    if let Some(d) = std::env::var_os("HOOKBRIDGE_PG_BIN") {
        let d = PathBuf::from(d);
        return has(&d).then_some(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

/// The binaries, or `None` after saying the test is skipped. Panics when
/// `CI` is set: CI must run these tests.
pub fn available() -> Option<PathBuf> {
    if let Some(b) = bin_dir() {
        return Some(b);
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    assert!(
        !ci,
        "PostgreSQL not installed and CI is set: run .ci/run (it installs it) or apt-get install postgresql"
    );
    eprintln!("skipped: PostgreSQL not installed (run .ci/run or apt-get install postgresql)");
    None
}

/// A running (or stopped) PostgreSQL cluster.
pub struct PgServer {
    bin: PathBuf,
    /// Holds `data/` and the socket; removed on drop (or, for the shared
    /// server, by the next test run).
    root: PathBuf,
    pub port: u16,
    run_as: Option<User>,
    child: Mutex<Option<Child>>,
    databases: AtomicUsize,
}

#[derive(Clone)]
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

/// The shared server, started once per test process on a thread that
/// lives as long as the process (the server dies with it).
pub fn shared() -> Option<&'static PgServer> {
    static SHARED: OnceLock<Option<PgServer>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let bin = available()?;
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("pg-keeper".into())
                .spawn(move || {
                    let server = PgServer::init(bin);
                    let _ = tx.send(server);
                    loop {
                        std::thread::park();
                    }
                })
                .expect("spawn the PostgreSQL keeper thread");
            Some(rx.recv().expect("the PostgreSQL keeper thread answers"))
        })
        .as_ref()
}

impl PgServer {
    /// A server of the calling test's own, started on the calling thread
    /// (it dies with that thread). `None` when skipped.
    pub fn private() -> Option<PgServer> {
        available().map(PgServer::init)
    }

    fn init(bin: PathBuf) -> PgServer {
        clean_stale_roots();
        let root = std::env::temp_dir().join(format!(
            "hookbridge-pg-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&root).expect("create the PostgreSQL root dir");
        std::fs::write(root.join("owner.pid"), std::process::id().to_string()).unwrap();
        let run_as = unprivileged_user();
        if let Some(u) = &run_as {
            std::os::unix::fs::chown(&root, Some(u.uid), Some(u.gid)).expect("chown the root dir");
        }
        let pwfile = root.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if let Some(u) = &run_as {
            std::os::unix::fs::chown(&pwfile, Some(u.uid), Some(u.gid)).unwrap();
        }
        let started = Instant::now();
        let out = command(&bin, "initdb", run_as.as_ref())
            .arg("-D")
            .arg(root.join("data"))
            .args(["-U", USER, "-E", "UTF8", "--locale=C", "--no-sync"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdin(Stdio::null())
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let _ = std::fs::remove_file(&pwfile);
        let server = PgServer {
            bin,
            root,
            port: 0,
            run_as,
            child: Mutex::new(None),
            databases: AtomicUsize::new(0),
        };
        let mut server = server;
        server.port = server.start_on_free_port();
        eprintln!(
            "PostgreSQL up on 127.0.0.1:{} in {:?} ({})",
            server.port,
            started.elapsed(),
            server.root.display()
        );
        server
    }

    fn start_on_free_port(&self) -> u16 {
        for _ in 0..5 {
            let port = free_port();
            if self.spawn(port).is_ok() {
                return port;
            }
        }
        panic!("PostgreSQL would not start:\n{}", self.log());
    }

    /// Starts `postgres` on `port` and waits until it accepts connections.
    fn spawn(&self, port: u16) -> Result<(), ()> {
        let log = std::fs::File::create(self.root.join("log")).expect("create the server log");
        if let Some(u) = &self.run_as {
            let _ = std::os::unix::fs::chown(self.root.join("log"), Some(u.uid), Some(u.gid));
        }
        let child = command(&self.bin, "postgres", self.run_as.as_ref())
            .arg("-D")
            .arg(self.root.join("data"))
            .args(["-p", &port.to_string(), "-k"])
            .arg(&self.root)
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=300"])
            .args(["-c", "shared_buffers=32MB"])
            // a test machine, not a server: the OS keeps what a process
            // crash would lose; only a machine crash would need fsync
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "log_min_messages=warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn postgres");
        *self.child.lock().unwrap() = Some(child);
        let pidfile = self.root.join("data/postmaster.pid");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // PostgreSQL writes "ready" as the 8th line of postmaster.pid.
            if let Ok(text) = std::fs::read_to_string(&pidfile)
                && text.lines().nth(7).is_some_and(|l| l.trim() == "ready")
            {
                return Ok(());
            }
            let exited = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .is_none_or(|c| c.try_wait().ok().flatten().is_some());
            if exited || Instant::now() > deadline {
                self.kill_child();
                return Err(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("log")).unwrap_or_default()
    }

    /// `postgres://hb:<password>@127.0.0.1:<port>/<db>`
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// A fresh, empty database; its URL.
    pub async fn database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let (client, conn) = tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to the test server: {e}\n{}", self.log()));
        let driver = tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
        drop(client);
        let _ = driver.await;
        self.url(&name)
    }

    /// Stops the server: `fast` (clients are disconnected, then a clean
    /// shutdown) or not (immediate: like a crash, recovery at the next start).
    pub fn stop(&self, fast: bool) {
        let Some(mut child) = self.child.lock().unwrap().take() else {
            return;
        };
        let sig = if fast { "-INT" } else { "-QUIT" };
        let _ = Command::new("kill")
            .arg(sig)
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Backends left by an immediate stop go when they see the
        // postmaster gone; the next start waits for the pid file to clear.
    }

    /// Starts a stopped server again on its port.
    pub fn start(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.spawn(self.port).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL would not start again:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill_child(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop(false);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs `bin/<tool>`, as `user` when given (and then killed with the
/// thread that started it).
fn command(bin: &Path, tool: &str, user: Option<&User>) -> Command {
    match user {
        Some(u) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={}", u.uid))
                .arg(format!("--regid={}", u.gid))
                .arg("--init-groups")
                .args(["--pdeathsig", "KILL"])
                .arg(bin.join(tool))
                .env("HOME", "/")
                .env("USER", &u.name);
            c
        }
        None => Command::new(bin.join(tool)),
    }
}

/// As root: the `postgres` user, or `nobody`. Otherwise none (run as is).
fn unprivileged_user() -> Option<User> {
    let me = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid_line = me.lines().find(|l| l.starts_with("Uid:"))?;
    let euid: u32 = uid_line.split_whitespace().nth(2)?.parse().ok()?;
    if euid != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() > 3
                && f[0] == name
                && let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse())
            {
                return Some(User {
                    name: name.into(),
                    uid,
                    gid,
                });
            }
        }
    }
    panic!("running as root with neither a `postgres` nor a `nobody` user to run PostgreSQL as");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Removes the dirs of earlier test runs whose process is gone.
fn clean_stale_roots() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("hookbridge-pg-") {
            continue;
        }
        let owner = std::fs::read_to_string(e.path().join("owner.pid")).unwrap_or_default();
        let alive = owner
            .trim()
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

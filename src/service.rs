//! The running service: opens the store, builds the sinks, starts the lane
//! workers and the HTTP server, and handles the process's signals
//! (SIGTERM/SIGINT: drain and stop; SIGHUP: reload `bridge.toml` and
//! `templates/`, keeping the running config when the new one is bad).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::outbox::store::postgres;
use crate::outbox::{Outbox, PgStore, SinkMap, SqliteStore, Store};
use crate::pipeline::{LoadError, Pipeline};
use crate::server::{AppState, Limits, app};
use crate::sinks::Sink;

/// How long in-flight requests get to finish on shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of `hookbridge serve` beyond the config file.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Overrides `[store] path` (`:memory:` for a store that does not persist).
    pub store: Option<String>,
    /// Overrides `[server] listen`.
    pub listen: Option<SocketAddr>,
}

/// A started service.
pub struct Running {
    /// The address the server listens on (the real port when bound to 0).
    pub addr: SocketAddr,
    config_path: PathBuf,
    state: Arc<AppState>,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    /// Held while serving: one service per store file.
    _store_lock: Option<std::fs::File>,
}

/// The process-wide Prometheus recorder (one per process, as `metrics` wants).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full(
                        crate::metrics::SEND_DURATION.into(),
                    ),
                    &buckets,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics is off");
                    None
                }
            }
        })
        .clone()
}

/// Builds one client per configured sink.
pub fn build_sinks(config: &Config) -> anyhow::Result<SinkMap> {
    let mut map = SinkMap::new();
    for (name, cfg) in &config.sinks {
        let sink =
            Sink::new(cfg, config.delivery.timeout).with_context(|| format!("sink `{name}`"))?;
        map.insert(name.clone(), Arc::new(sink));
    }
    Ok(map)
}

/// Opens the store the config (or the override) names. Only the service
/// (`upgrade`) upgrades a file of an older schema; see
/// [`SqliteStore::open_without_upgrade`].
pub async fn open_store(
    config: &Config,
    store_override: Option<&str>,
    upgrade: bool,
) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(url) = postgres_url(config, store_override) {
        // Errors name the database without the URL's password.
        let store = PgStore::connect(&url, upgrade).await?;
        return Ok(Arc::new(store));
    }
    let path = store_path(config, store_override);
    // Only the service creates a store: a tool pointed at the wrong config
    // would otherwise list an empty new file and say all is well.
    if !upgrade && path != ":memory:" && !std::path::Path::new(&path).exists() {
        anyhow::bail!(
            "no store at {path}: `hookbridge serve` creates it. Point --config at the \
             service's bridge.toml, with the service's environment (HOOKBRIDGE_STORE, if it \
             sets the path)"
        );
    }
    let store = if path == ":memory:" {
        SqliteStore::open_memory().context("cannot open the in-memory store")?
    } else {
        let path_ref = std::path::Path::new(&path);
        let opened = if upgrade {
            SqliteStore::open(path_ref)
        } else {
            SqliteStore::open_without_upgrade(path_ref)
        };
        opened.with_context(|| format!("cannot open the store at {path}"))?
    };
    Ok(Arc::new(store))
}

/// The PostgreSQL URL the store is, if it is one: `[store] url`, or a
/// `postgres://` URL given as `--store`.
fn postgres_url(config: &Config, store_override: Option<&str>) -> Option<String> {
    match store_override {
        Some(named) => postgres::is_postgres_url(named).then(|| named.trim().to_string()),
        None => config.store.url.as_ref().map(|u| u.expose().to_string()),
    }
}

/// The store file the config (or the override) names, or `:memory:`.
fn store_path(config: &Config, store_override: Option<&str>) -> String {
    if let Some(url) = postgres_url(config, store_override) {
        return url;
    }
    match store_override {
        Some(p) => p.to_string(),
        None => config.store_path().display().to_string(),
    }
}

/// Takes `<store>.lock` for as long as the returned file lives: two services
/// on one store would both send every pending message, and a new binary
/// could upgrade the file under a running older one.
fn lock_store(path: &str) -> anyhow::Result<Option<std::fs::File>> {
    // PostgreSQL: the replicas share the lanes through leases.
    if path == ":memory:" || postgres::is_postgres_url(path) {
        return Ok(None);
    }
    let lock_path = format!("{path}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("cannot open the store's lock file {lock_path}"))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another `hookbridge serve` is using the store {path} (it holds {lock_path}): \
             stop it first, or give this one a store of its own"
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {lock_path}"))
        }
    }
}

/// The connection limits for this process: the open-file limit raised to
/// its hard limit where allowed, and the connection cap derived from it.
fn connection_limits() -> Limits {
    match crate::server::raise_open_file_limit() {
        Some(nofile) => {
            let limits = Limits::for_open_files(nofile);
            if limits.max_connections < crate::server::MAX_CONNECTIONS {
                tracing::info!(
                    open_files = nofile,
                    max_connections = limits.max_connections,
                    "the open-file limit caps connections; raise LimitNOFILE for more"
                );
            }
            limits
        }
        None => Limits::default(),
    }
}

/// Starts the service for `pipeline` (loaded from `config_path`).
pub async fn start(
    config_path: PathBuf,
    pipeline: Pipeline,
    opts: ServeOptions,
) -> anyhow::Result<Running> {
    let config = &pipeline.config;
    let share = crate::server::BODY_BUDGET_BYTES / crate::server::BODY_SHARE_DIVISOR;
    if config.server.max_body_bytes > share {
        tracing::warn!(
            max_body_bytes = config.server.max_body_bytes,
            "a body may hold at most {share} bytes in memory: longer ones are answered 413"
        );
    }
    for name in &config.disabled_sinks {
        tracing::warn!(sink = %name, "sink disabled: its credentials expanded to nothing; routes to it are skipped");
    }
    // The port first, then the store: a service that cannot listen must
    // not have upgraded the store or started sending.
    let listen = opts.listen.unwrap_or(config.server.listen);
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let store_lock = lock_store(&store_path(config, opts.store.as_deref()))?;
    let store = open_store(config, opts.store.as_deref(), true).await?;
    let sinks = build_sinks(config)?;
    let outbox = Outbox::start(
        store.clone(),
        sinks,
        config.delivery.clone(),
        pipeline.renderer.clone(),
    )
    .await;
    let addr = listener.local_addr().unwrap_or(listen);
    let limits = connection_limits();

    let state = Arc::new(AppState::new(pipeline, store, outbox, metrics_handle()));
    let (stop, mut stop_rx) = watch::channel(false);
    let server = tokio::spawn(crate::server::serve(
        listener,
        app(state.clone()),
        limits,
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
        DRAIN_TIMEOUT,
    ));
    tracing::info!(%addr, max_connections = limits.max_connections, "hookbridge listening");
    Ok(Running {
        addr,
        config_path,
        state,
        stop,
        server,
        _store_lock: store_lock,
    })
}

impl Running {
    /// The store this service writes to.
    pub fn store(&self) -> Arc<dyn Store> {
        self.state.store.clone()
    }

    /// Re-reads the config file and templates. On error the running
    /// pipeline stays and the error is returned.
    pub fn reload(&self) -> Result<(), anyhow::Error> {
        let new = Pipeline::load(&self.config_path).map_err(|e: LoadError| anyhow::anyhow!(e))?;
        let sinks = build_sinks(&new.config)?;
        let old = self.state.pipeline.load();
        if new.config.server.listen != old.config.server.listen {
            tracing::warn!("server.listen changed: takes effect at the next restart");
        }
        if new.config.store.path != old.config.store.path {
            tracing::warn!("store.path changed: takes effect at the next restart");
        }
        self.state
            .outbox
            .reconfigure(sinks, new.config.delivery.clone(), new.renderer.clone());
        tracing::info!(
            routes = new.config.routes.len(),
            sources = new.config.sources.len(),
            sinks = new.config.sinks.len(),
            "config reloaded"
        );
        self.state.pipeline.store(Arc::new(new));
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish, lets each worker
    /// finish the send in hand, and returns when all is quiet.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        // Workers stop with the server, not after its drain: a send started
        // during a 10 s drain would push the exit past a container's grace.
        let (served, ()) = tokio::join!(self.server, self.state.outbox.shutdown());
        match served {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e).context("server error"),
            Err(e) => Err(anyhow::anyhow!("server task failed: {e}")),
        }
    }

    /// Runs until SIGTERM or SIGINT, reloading on SIGHUP.
    pub async fn run_until_signalled(self, mut signals: Signals) -> anyhow::Result<()> {
        signals.wait(&self).await;
        self.shutdown().await
    }
}

/// The process signals the service obeys. Installed before the server
/// starts listening, so a signal sent as soon as it answers is not lost
/// (nor fatal, as an unhandled SIGHUP would be).
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
                int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
                hup: signal(SignalKind::hangup()).context("cannot handle SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Waits for a stop signal, reloading `running` on each SIGHUP.
    async fn wait(&mut self, running: &Running) {
        #[cfg(unix)]
        loop {
            tokio::select! {
                _ = self.term.recv() => { tracing::info!("SIGTERM: draining and stopping"); return; }
                _ = self.int.recv() => { tracing::info!("SIGINT: draining and stopping"); return; }
                _ = self.hup.recv() => {
                    if let Err(e) = running.reload() {
                        tracing::error!("reload refused, still running the previous config: {e:#}");
                    }
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = running;
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!("cannot wait for Ctrl-C: {e}");
            }
        }
    }
}

//! `callgate serve`: open the store, load the table, follow the change log, and answer on
//! HTTP and SIP (UDP and TCP) until told to stop. Under systemd (`Type=notify`) it says
//! `READY=1` once every listener is bound, pings the watchdog, and says `STOPPING=1` on the way out.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use sd_notify::NotifyState;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::audit::{self, Auditor};
use crate::config::Config;
use crate::sip::Sip;
use crate::state::State;
use crate::store::{self, Store};
use crate::writer::Writer;
use crate::{http, sip};

/// The demo directory, built in so `serve --demo` works from any directory.
pub const DEMO_DIRECTORY: &str = include_str!("../../examples/demo.yaml");

/// A running daemon: its bound addresses, and the handle that stops it.
pub struct Daemon {
    /// Where HTTP listens.
    pub http: SocketAddr,
    /// Where SIP listens (UDP and TCP).
    pub sip: SocketAddr,
    /// The shared state (table, store).
    pub state: State,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Daemon {
    /// Opens the store, loads the table, binds every listener and starts serving.
    pub async fn start(config: &Config) -> anyhow::Result<Daemon> {
        let store = Store::open(&config.db).await.with_context(|| {
            format!(
                "opening the store at `{}`",
                crate::config::redacted(&config.db)
            )
        })?;
        if config.demo && store.is_empty().await? {
            let tenants = callgate::directory::parse(DEMO_DIRECTORY)
                .context("the built-in demo directory")?;
            let outcome = store.import(&tenants, "demo").await?;
            tracing::info!(
                revision = outcome.revision,
                tenants = outcome.changed.len(),
                "loaded the demo directory"
            );
        }
        // Only a daemon that feeds replicas keeps what they rebuild tenants from.
        let writer = Arc::new(if config.feed.is_some() {
            Writer::new()
        } else {
            Writer::without_sources()
        });
        writer
            .table()
            .set_platform_emergency(config.emergency_numbers.iter().map(String::as_str))
            .context("config key `emergency_numbers`")?;
        crate::store::load_into(&store, &writer)
            .await
            .context("loading the grant table")?;
        let state = State::new(
            Arc::clone(&writer),
            Some(store.clone()),
            config.peer_set()?,
            config.min_revision_wait(),
        );
        state.set_ready();
        let retention = config.audit_retention()?;
        let (auditor, queue) = Auditor::new(config.audit_queue, config.audit_allows);
        state.set_auditor(auditor.clone());
        let mut daemon = Daemon::bind(config, state).await?;
        daemon.tasks.spawn(audit::run_writer(
            store.clone(),
            auditor,
            queue,
            1000,
            stopped(daemon.stop.subscribe()),
        ));
        if let Some(keep) = retention {
            daemon.tasks.spawn(apply_retention(
                store.clone(),
                keep,
                stopped(daemon.stop.subscribe()),
            ));
        }
        let stop = daemon.stop.subscribe();
        daemon
            .tasks
            .spawn(store::follow(store, writer, stopped(stop)));
        Ok(daemon)
    }

    /// Binds the listeners over an already-built state (tests use this without a store).
    pub async fn bind(config: &Config, state: State) -> anyhow::Result<Daemon> {
        let (stop, _) = watch::channel(false);
        state.set_http(http::Settings::from_config(config)?);
        state.set_signer(config.signer()?);
        let http_listener = TcpListener::bind(config.http)
            .await
            .with_context(|| format!("binding HTTP on {}", config.http))?;
        // SIP on UDP and TCP at one address. With port 0, the TCP port the kernel left free
        // for UDP may be taken: then try again with a fresh UDP port, a few times.
        let attempts = if config.sip.port() == 0 { 16 } else { 1 };
        let mut bound = None;
        for attempt in 1..=attempts {
            let udp = UdpSocket::bind(config.sip)
                .await
                .with_context(|| format!("binding SIP/UDP on {}", config.sip))?;
            let sip_addr = udp.local_addr()?;
            match TcpListener::bind(sip_addr).await {
                Ok(tcp) => {
                    bound = Some((udp, tcp, sip_addr));
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempt < attempts => {
                    tracing::debug!(%sip_addr, "SIP/TCP port taken; trying another");
                }
                Err(e) => return Err(e).with_context(|| format!("binding SIP/TCP on {sip_addr}")),
            }
        }
        let (udp, tcp, sip_addr) = bound.context("binding SIP/TCP beside SIP/UDP")?;
        let http_addr = http_listener.local_addr()?;
        let sip_endpoint = Sip::with_limits(state.clone(), sip::Limits::from_config(config));
        let mut tasks = JoinSet::new();
        let s = state.clone();
        let rx = stop.subscribe();
        tasks.spawn(async move {
            if let Err(e) = http::run(http_listener, s, stopped(rx)).await {
                tracing::error!(error = %e, "HTTP listener failed");
            }
        });
        let (endpoint, rx) = (sip_endpoint.clone(), stop.subscribe());
        tasks.spawn(async move {
            if let Err(e) = sip::run_udp(udp, endpoint, stopped(rx)).await {
                tracing::error!(error = %e, "SIP/UDP listener failed");
            }
        });
        let (endpoint, rx, max) = (sip_endpoint, stop.subscribe(), config.max_tcp_connections);
        tasks.spawn(async move {
            if let Err(e) = sip::run_tcp(tcp, endpoint, max, stopped(rx)).await {
                tracing::error!(error = %e, "SIP/TCP listener failed");
            }
        });
        if let Some(path) = &config.feed {
            let access = crate::feed::Access::from_config(config)?;
            let listener = crate::feed::bind(path, &access)
                .with_context(|| format!("binding the feed socket `{}`", path.display()))?;
            let (writer, rx) = (state.writer(), stop.subscribe());
            let auditor = state.auditor().cloned();
            tasks.spawn(async move {
                if let Err(e) = crate::feed::run(listener, writer, auditor, stopped(rx)).await {
                    tracing::error!(error = %e, "feed listener failed");
                }
            });
        }
        tracing::info!(http = %http_addr, sip = %sip_addr, "callgate is listening");
        Ok(Daemon {
            http: http_addr,
            sip: sip_addr,
            state,
            stop,
            tasks,
        })
    }

    /// Tells every listener to stop, and waits for in-flight requests to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Deletes decision records older than `keep`, at start and then hourly, until `shutdown`.
async fn apply_retention(
    store: Store,
    keep: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => {
                let before = audit::now_ms().saturating_sub(i64::try_from(keep.as_millis()).unwrap_or(i64::MAX));
                match store.purge_audit(before).await {
                    Ok(n) => tracing::info!(purged = n, "audit retention applied"),
                    Err(e) => tracing::warn!(error = %e, "audit retention failed; will retry"),
                }
            }
        }
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Runs the daemon until SIGINT or SIGTERM. On SIGHUP it reads `config_file` again (if it
/// was started with one) and takes up its STIR/SHAKEN key and the HTTP API's TLS certificate;
/// a file or key that does not load is logged and the running ones stay.
pub async fn run(config: Config, config_file: Option<String>) -> anyhow::Result<()> {
    crate::telemetry::install();
    let mut daemon = Daemon::start(&config).await?;
    // `start` returns once the table is loaded and every listener is bound: ready means ready.
    let feed = config
        .feed
        .as_ref()
        .map(|p| format!(", feed {}", p.display()))
        .unwrap_or_default();
    let status = format!(
        "revision {}; HTTP {}, SIP {} (UDP and TCP){feed}",
        daemon.state.table().revision(),
        daemon.http,
        daemon.sip
    );
    notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    if let Some(every) = sd_notify::watchdog_enabled().map(|timeout| timeout / 2) {
        tracing::debug!(?every, "systemd watchdog enabled");
        let stop = daemon.stop.subscribe();
        daemon.tasks.spawn(watchdog(every, stopped(stop)));
    }
    {
        let (state, stop) = (daemon.state.clone(), daemon.stop.subscribe());
        daemon
            .tasks
            .spawn(reload_on_hangup(state, config_file, stopped(stop)));
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    notify(&[NotifyState::Stopping, NotifyState::Status("shutting down")]);
    daemon.shutdown().await;
    Ok(())
}

/// Tells systemd `states`, when it is listening (`NOTIFY_SOCKET` set); a failure is logged.
fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Pings systemd's watchdog every `every` (half its timeout) until `shutdown`.
async fn watchdog(every: std::time::Duration, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(every.max(std::time::Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tick.tick() => notify(&[NotifyState::Watchdog]),
        }
    }
}

/// Reloads what can change without dropping a listener, on every SIGHUP, until `shutdown`.
async fn reload_on_hangup(
    state: State,
    config_file: Option<String>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload by restarting");
        return;
    };
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            got = hangups.recv() => if got.is_none() { return },
        }
        let Some(path) = &config_file else {
            tracing::info!("SIGHUP: no config file to read again");
            continue;
        };
        let config = match Config::from_file(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(config = %path, error = %e, "SIGHUP: reload refused; keeping the running settings");
                continue;
            }
        };
        match config.signer() {
            Ok(signer) => {
                tracing::info!(config = %path, signing = signer.is_some(), "SIGHUP: reloaded the STIR/SHAKEN settings");
                state.set_signer(signer);
            }
            Err(e) => {
                tracing::error!(config = %path, error = %e, "SIGHUP: STIR/SHAKEN reload refused; keeping the running key");
            }
        }
        // The HTTP API's certificate, when it speaks TLS (turning TLS on or off takes a restart).
        if let (Some(slot), Some(cert), Some(key)) = (
            state.http().certificate(),
            &config.http_tls_cert,
            &config.http_tls_key,
        ) {
            match slot.reload(cert, key) {
                Ok(()) => tracing::info!(cert = %cert, "SIGHUP: reloaded the HTTP TLS certificate"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: HTTP TLS reload refused; keeping the running certificate")
                }
            }
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

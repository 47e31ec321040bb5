//! What every listener shares: the grant table (and its writer), the store, the settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use callgate::Table;

use crate::audit::Auditor;
use crate::config::Peers;
use crate::shaken::Signer;
use crate::store::Store;
use crate::writer::Writer;

/// The daemon's shared state. Cheap to clone.
#[derive(Clone)]
pub struct State {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Arc<Writer>,
    store: Option<Store>,
    peers: Peers,
    min_revision_wait: Duration,
    ready: std::sync::atomic::AtomicBool,
    auditor: std::sync::OnceLock<Auditor>,
    http: std::sync::OnceLock<crate::http::Settings>,
    signer: std::sync::RwLock<Option<Arc<Signer>>>,
}

impl State {
    /// State over the table `writer` writes, and the store it follows (if any).
    pub fn new(
        writer: Arc<Writer>,
        store: Option<Store>,
        peers: Peers,
        min_revision_wait: Duration,
    ) -> State {
        State {
            inner: Arc::new(Inner {
                writer,
                store,
                peers,
                min_revision_wait,
                ready: std::sync::atomic::AtomicBool::new(false),
                auditor: std::sync::OnceLock::new(),
                http: std::sync::OnceLock::new(),
                signer: std::sync::RwLock::new(None),
            }),
        }
    }

    /// Records decisions through `auditor` from now on (the first one set stays).
    pub fn set_auditor(&self, auditor: Auditor) {
        let _ = self.inner.auditor.set(auditor);
    }

    /// Runs the HTTP API with `settings` from now on (the first one set stays).
    pub fn set_http(&self, settings: crate::http::Settings) {
        let _ = self.inner.http.set(settings);
    }

    /// The HTTP API's settings (the defaults, if none were set before the first use).
    pub fn http(&self) -> &crate::http::Settings {
        self.inner.http.get_or_init(crate::http::Settings::default)
    }

    /// Signs caller-ID answers with `signer` from now on (`None`: unsigned). SIGHUP swaps it.
    pub fn set_signer(&self, signer: Option<Signer>) {
        *self
            .inner
            .signer
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = signer.map(Arc::new);
    }

    /// The STIR/SHAKEN signer, if signing is configured.
    pub fn signer(&self) -> Option<Arc<Signer>> {
        self.inner
            .signer
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Where decisions are audited, if anywhere.
    pub fn auditor(&self) -> Option<&Auditor> {
        self.inner.auditor.get()
    }

    /// The grant table.
    pub fn table(&self) -> &Table {
        self.inner.writer.table()
    }

    /// The table's writer (what the replica feed follows).
    pub fn writer(&self) -> Arc<Writer> {
        Arc::clone(&self.inner.writer)
    }

    /// The store, if the daemon has one.
    pub fn store(&self) -> Option<&Store> {
        self.inner.store.as_ref()
    }

    /// The SIP peers allowed an answer.
    pub fn peers(&self) -> &Peers {
        &self.inner.peers
    }

    /// Marks the table loaded.
    pub fn set_ready(&self) {
        self.inner
            .ready
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the table has been loaded.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits (up to the configured bound) for the table to reach `revision`; whether it did.
    pub async fn wait_for_revision(&self, revision: u64) -> bool {
        self.wait_for_revision_within(revision, self.inner.min_revision_wait)
            .await
    }

    /// Waits up to `bound` for the table to reach `revision`; whether it did.
    ///
    /// Woken by the store's follower as it applies each change; without a store (a table fed
    /// some other way) it looks again every millisecond.
    pub async fn wait_for_revision_within(&self, revision: u64, bound: Duration) -> bool {
        let deadline = Instant::now() + bound;
        let mut applied = self.store().map(Store::applied);
        loop {
            if self.table().revision() >= revision {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match &mut applied {
                // The table is checked again on every change (or a closed channel: a stopped
                // follower), and at least every 50 ms in case the table moved some other way.
                Some(rx) => {
                    let wake = (deadline - now).min(Duration::from_millis(50));
                    if let Ok(Err(_closed)) = tokio::time::timeout(wake, rx.changed()).await {
                        applied = None;
                    }
                }
                None => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
}

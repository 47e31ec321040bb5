//! Serves the router over HTTP/1.1 with hyper, bounded: at most `max_connections` at once
//! (each holds a semaphore permit; more wait in the kernel's listen backlog, costing no
//! descriptor), at most `max_connections_per_address` from one address (more are closed at
//! once), and hyper's header read timeout, which also closes a kept-alive connection that
//! stays idle that long.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::Limits;

/// Connections refused or closed by a limit, by `why` (`per_address`).
pub const HTTP_REFUSED: &str = "callgate_http_connections_refused_total";
/// Open HTTP connections.
pub const HTTP_CONNECTIONS: &str = "callgate_http_connections";

/// The most bytes a request's head (request line and headers) may take.
const MAX_HEAD: usize = 32 << 10;

/// Connections open per address.
#[derive(Default)]
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection counted against its address; uncounted when dropped.
struct Slot {
    addresses: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut open = self.open.lock().ok()?;
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            addresses: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.addresses.open.lock()
            && let Some(n) = open.get_mut(&self.ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves; then stops
/// accepting, lets in-flight requests finish (for up to the body timeout) and returns.
///
/// With `tls`, each connection is a TLS handshake first (bounded by the header timeout: a
/// client that opens a connection and says nothing holds a slot no longer than a plain one).
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let addresses = Arc::new(PerAddress::default());
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEAD);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, or a connection reset before it was accepted:
                    // wait a little rather than spin.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(slot) = addresses.enter(peer.ip(), limits.max_connections_per_address) else {
            metrics::counter!(HTTP_REFUSED, "why" => "per_address").increment(1);
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(req)
        });
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let tls = tls.clone();
        let handshake = limits.header_timeout;
        tokio::spawn(async move {
            metrics::gauge!(HTTP_CONNECTIONS).increment(1.0);
            let ended = match tls {
                None => watcher
                    .watch(builder.serve_connection(TokioIo::new(stream), service))
                    .await
                    .map_err(|e| e.to_string()),
                Some(acceptor) => {
                    match tokio::time::timeout(handshake, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => watcher
                            .watch(builder.serve_connection(TokioIo::new(stream), service))
                            .await
                            .map_err(|e| e.to_string()),
                        Ok(Err(e)) => {
                            metrics::counter!(HTTP_REFUSED, "why" => "tls_handshake").increment(1);
                            Err(format!("TLS handshake failed: {e}"))
                        }
                        Err(_) => {
                            metrics::counter!(HTTP_REFUSED, "why" => "tls_handshake").increment(1);
                            Err("TLS handshake timed out".to_string())
                        }
                    }
                }
            };
            if let Err(e) = ended {
                tracing::debug!(%peer, error = %e, "HTTP connection ended");
            }
            metrics::gauge!(HTTP_CONNECTIONS).decrement(1.0);
            drop((permit, slot));
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.body_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open at shutdown were dropped");
    }
    Ok(())
}

/// A peer address as the checks see it (tests without a socket have none).
pub(super) fn peer_of<B>(req: &axum::http::Request<B>) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

//! The HTTP server under every service: hyper's HTTP/1 with a timer, so a
//! client that trickles its request head (or idles on a kept-alive
//! connection) is cut off after [`ServerConfig::header_read_timeout`], and
//! a cap on open connections ([`ServerConfig::max_connections`]).
//!
//! Not `axum::serve`: it runs hyper without a timer, so hyper's header-read
//! timeout never fires, and a request's timeout layer only starts once the
//! head has arrived. HTTP/1.1 only: the services are called over HTTP/1.1
//! (ingress, service clients), and hyper's HTTP/2 server has no such
//! timeout.

mod config;
mod metrics;

use std::{future::Future, io, net::SocketAddr, pin::pin, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
};
use tower::ServiceExt as _;

pub use config::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, ServerConfig};

/// Pause after an accept error that is not about one connection (the file
/// descriptor table is full): accepting again at once would spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `stop` resolves, then stops
/// accepting (the listener closes: new connections are refused), asks
/// every connection to close once its request is answered, and returns
/// when all are closed. The caller bounds that wait (the drain deadline).
///
/// Handlers can extract the peer address with `ConnectInfo<SocketAddr>`.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    config: ServerConfig,
    stop: impl Future<Output = ()>,
) {
    metrics::register();
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut stop = pin!(stop);
    loop {
        let (stream, peer, slot) = tokio::select! {
            () = &mut stop => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        let service = {
            let router = router.clone();
            service_fn(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(request)
            })
        };
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _open = metrics::OpenConnection::new(slot);
            if let Err(error) = connection.await {
                if error.is_timeout() {
                    metrics::HEADER_READ_TIMEOUTS.inc();
                }
                tracing::trace!(context = "Server", %peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The next connection, once a slot is free: at the limit, connections
/// wait in the kernel's accept backlog (and past the backlog the kernel
/// drops them) instead of being accepted and dropped here.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    let slot = match Arc::clone(slots).try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            metrics::LIMIT_REACHED.inc();
            match Arc::clone(slots).acquire_owned().await {
                Ok(slot) => slot,
                // The semaphore is never closed.
                Err(_) => std::future::pending().await,
            }
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => return (stream, peer, slot),
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                tracing::warn!(context = "Server", %error, "cannot accept connections");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
            }
        }
    }
}

/// An error about one connection (reset before it was accepted): the next
/// accept is unaffected.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

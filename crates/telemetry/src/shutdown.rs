//! Graceful shutdown: SIGTERM or SIGINT → not ready at once → keep serving
//! for the grace period (load balancers notice) → stop accepting and drain
//! in-flight requests up to a deadline → return, so the caller flushes
//! telemetry. A second signal exits at once.

use std::{
    future::IntoFuture,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    http::{HeaderValue, header},
    response::Response,
};
use tokio::{net::TcpListener, signal, sync::watch};

use crate::config::env::{ConfigError, Environment, parse_or};

/// Drain deadline when `SHUTDOWN_TIMEOUT_SECONDS` is unset. With the
/// production grace of 5 s and a few seconds of telemetry flush, the whole
/// sequence stays within Kubernetes' default `terminationGracePeriodSeconds`
/// of 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Grace period when `SHUTDOWN_GRACE_SECONDS` is unset: 5 s in production and
/// staging (endpoint removal reaches proxies asynchronously), none in
/// development (Ctrl-C should be instant).
pub fn default_grace(environment: Environment) -> Duration {
    match environment {
        Environment::Development => Duration::ZERO,
        Environment::Staging | Environment::Production => Duration::from_secs(5),
    }
}

/// Exit code of the second signal (128 + SIGINT, as shells report Ctrl-C).
const FORCED_EXIT_CODE: i32 = 130;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownConfig {
    /// `SHUTDOWN_GRACE_SECONDS`: how long the service keeps serving, not
    /// ready, after the signal.
    pub grace: Duration,
    /// `SHUTDOWN_TIMEOUT_SECONDS`: how long in-flight requests may take to
    /// finish once the service stops accepting.
    pub timeout: Duration,
}

/// The development defaults: no grace period, the default drain timeout.
impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace: default_grace(Environment::Development),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

impl ShutdownConfig {
    pub fn from_env(environment: Environment) -> Result<Self, ConfigError> {
        let grace = parse_or(
            "SHUTDOWN_GRACE_SECONDS",
            default_grace(environment).as_secs(),
        )?;
        let timeout = parse_or("SHUTDOWN_TIMEOUT_SECONDS", DEFAULT_TIMEOUT.as_secs())?;
        Ok(Self {
            grace: Duration::from_secs(grace),
            timeout: Duration::from_secs(timeout),
        })
    }
}

/// Where the process is in its shutdown sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Running,
    /// Signal received: not ready, still serving (grace period).
    Draining,
    /// Grace over: no new connections; in-flight requests finish.
    Stopping,
}

/// The shutdown state shared by the server, the readiness probe and any
/// background task that must stop (cheap to clone).
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    config: ShutdownConfig,
    phase: watch::Sender<Phase>,
    listening: AtomicBool,
}

impl Shutdown {
    pub fn new(config: ShutdownConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                phase: watch::Sender::new(Phase::Running),
                listening: AtomicBool::new(false),
            }),
        }
    }

    pub fn config(&self) -> ShutdownConfig {
        self.inner.config
    }

    pub fn phase(&self) -> Phase {
        *self.inner.phase.borrow()
    }

    /// True from the signal on: readiness answers 503.
    pub fn is_shutting_down(&self) -> bool {
        self.phase() >= Phase::Draining
    }

    /// Starts the sequence (what a signal does): readiness fails now, and
    /// after the grace period the server stops accepting. Idempotent.
    pub fn begin(&self) {
        let started = self.inner.phase.send_if_modified(|phase| {
            let first = *phase == Phase::Running;
            if first {
                *phase = Phase::Draining;
            }
            first
        });
        if !started {
            return;
        }
        let grace = self.inner.config.grace;
        tracing::info!(
            context = "Shutdown",
            grace_seconds = grace.as_secs(),
            "shutting down: not ready, serving for {}s more",
            grace.as_secs()
        );
        let this = self.clone();
        let stop = async move {
            tokio::time::sleep(grace).await;
            this.inner.phase.send_replace(Phase::Stopping);
            tracing::info!(
                context = "Shutdown",
                "grace period over: no new connections, draining in-flight requests"
            );
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(stop)),
            // No runtime, so nothing is serving: skip the grace.
            Err(_) => drop(self.inner.phase.send_replace(Phase::Stopping)),
        }
    }

    /// Resolves once shutdown has begun.
    pub async fn draining(&self) {
        self.reached(Phase::Draining).await;
    }

    /// Resolves once the grace period is over (stop accepting; background
    /// tasks such as a Discord connection stop here too).
    pub async fn stopping(&self) {
        self.reached(Phase::Stopping).await;
    }

    async fn reached(&self, target: Phase) {
        let mut phase = self.inner.phase.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = phase.wait_for(|phase| *phase >= target).await;
    }

    /// Listens for SIGTERM and SIGINT (once per `Shutdown`, later calls do
    /// nothing): the first begins the sequence, the second exits at once.
    pub fn listen_for_signals(&self) {
        if self.inner.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!(context = "Shutdown", "shutdown signal received");
            this.begin();
            wait_for_signal().await;
            eprintln!("second shutdown signal: exiting now");
            std::process::exit(FORCED_EXIT_CODE);
        });
    }
}

/// Serves `router` on `listener` until `shutdown` completes its sequence:
/// listens for signals, stops accepting when the grace period is over, and
/// returns once every connection has closed or the drain deadline passed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: &Shutdown,
) -> std::io::Result<()> {
    shutdown.listen_for_signals();
    let router = router.layer(axum::middleware::map_response(close_when_draining(
        shutdown,
    )));
    let stop = {
        let shutdown = shutdown.clone();
        async move { shutdown.stopping().await }
    };
    // With the peer's address (`ConnectInfo<SocketAddr>`): the gateway's
    // failed-authentication limit is per client address.
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .into_future();
    let deadline = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.stopping().await;
            tokio::time::sleep(shutdown.config().timeout).await;
        }
    };
    tokio::select! {
        result = server => {
            result?;
            tracing::info!(context = "Shutdown", "server stopped: in-flight requests drained");
        }
        () = deadline => {
            tracing::warn!(
                context = "Shutdown",
                in_flight = crate::http::in_flight(),
                timeout_seconds = shutdown.config().timeout.as_secs(),
                "drain deadline reached: abandoning the requests still in flight"
            );
        }
    }
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM; a second signal exits at once.
/// For a server, prefer [`Shutdown`] and [`serve`], which also flip
/// readiness and honour the grace period and the drain deadline.
pub async fn signal() {
    wait_for_signal().await;
    tracing::info!(context = "Shutdown", "shutdown signal received");
    tokio::spawn(async {
        wait_for_signal().await;
        eprintln!("second shutdown signal: exiting now");
        std::process::exit(FORCED_EXIT_CODE);
    });
}

/// During the grace period, answers carry `Connection: close`: a client
/// holding a keep-alive connection (which a load balancer's endpoint change
/// does not affect) reconnects, reaching another instance, instead of
/// reusing the connection until the drain closes it under its feet.
fn close_when_draining(
    shutdown: &Shutdown,
) -> impl Fn(Response) -> std::future::Ready<Response> + Clone + Send + Sync + 'static {
    let shutdown = shutdown.clone();
    move |mut response: Response| {
        if shutdown.is_shutting_down() {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        std::future::ready(response)
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match signal::unix::signal(signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(grace_ms: u64) -> ShutdownConfig {
        ShutdownConfig {
            grace: Duration::from_millis(grace_ms),
            timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn begin_flips_readiness_at_once_and_stops_after_the_grace() {
        let shutdown = Shutdown::new(config(50));
        assert_eq!(shutdown.phase(), Phase::Running);
        shutdown.begin();
        assert!(shutdown.is_shutting_down());
        assert_eq!(shutdown.phase(), Phase::Draining);
        tokio::time::timeout(Duration::from_secs(5), shutdown.stopping())
            .await
            .unwrap();
        assert_eq!(shutdown.phase(), Phase::Stopping);
        shutdown.begin();
        assert_eq!(shutdown.phase(), Phase::Stopping, "begin is idempotent");
    }

    #[test]
    fn grace_defaults_by_environment() {
        assert_eq!(default_grace(Environment::Development), Duration::ZERO);
        assert_eq!(
            default_grace(Environment::Production),
            Duration::from_secs(5)
        );
        assert_eq!(default_grace(Environment::Staging), Duration::from_secs(5));
    }
}

//! What the server's connection guards do, as metrics.

use std::sync::LazyLock;

use tokio::sync::OwnedSemaphorePermit;

use crate::metrics::{Counter, Gauge, counter, gauge};

static OPEN_CONNECTIONS: LazyLock<Gauge> = LazyLock::new(|| {
    gauge(
        "http_server_open_connections",
        "HTTP connections open now (at most HTTP_MAX_CONNECTIONS)",
    )
});

/// Each time the accept loop found every connection slot taken and waited.
pub(super) static LIMIT_REACHED: LazyLock<Counter> = LazyLock::new(|| {
    counter(
        "http_server_connection_limit_reached_total",
        "Times HTTP_MAX_CONNECTIONS connections were open and the server stopped accepting \
         (new connections wait in the accept backlog until one closes)",
    )
});

/// Connections closed with a request head still incomplete (a slow
/// client). An idle keep-alive connection closing is not counted: it is
/// the normal end of a connection.
pub(super) static HEADER_READ_TIMEOUTS: LazyLock<Counter> = LazyLock::new(|| {
    counter(
        "http_server_header_read_timeouts_total",
        "HTTP connections closed because a request head was incomplete after HTTP_HEADER_READ_TIMEOUT_MS",
    )
});

/// Registers the metrics, so they are exposed (at 0) before the first event.
pub(super) fn register() {
    LazyLock::force(&OPEN_CONNECTIONS);
    LazyLock::force(&LIMIT_REACHED);
    LazyLock::force(&HEADER_READ_TIMEOUTS);
}

/// A connection slot taken: counted open until dropped, when the slot is
/// given back (also when the connection task is cancelled).
pub(super) struct OpenConnection {
    _slot: OwnedSemaphorePermit,
}

impl OpenConnection {
    pub(super) fn new(slot: OwnedSemaphorePermit) -> Self {
        OPEN_CONNECTIONS.inc();
        Self { _slot: slot }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        OPEN_CONNECTIONS.dec();
    }
}

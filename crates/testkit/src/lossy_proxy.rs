//! A TCP relay in front of a server that loses one answer: the first request
//! starting with a given prefix reaches the server, which handles it, but
//! its answer never reaches the client (the connection is cut as soon as the
//! server starts answering). What a client sees when a proxy or the network
//! drops a response after the server committed: the case a retry with an
//! idempotency key must survive. Every other request is relayed unchanged.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// The running relay; it stops with the test's runtime.
pub struct LossyProxy {
    /// `http://127.0.0.1:{port}`: use it as the client's server URL.
    pub url: String,
    lost: Arc<AtomicUsize>,
}

impl LossyProxy {
    /// Relays to `upstream` (`host:port`), losing the answer to the first
    /// request whose bytes start with `prefix` (e.g. `POST /api/events`).
    pub async fn start(upstream: &str, prefix: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|error| panic!("cannot bind the lossy proxy: {error}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|error| panic!("local_addr: {error}"));
        let lost = Arc::new(AtomicUsize::new(0));
        let armed = Arc::new(AtomicBool::new(true));
        let (upstream, prefix) = (upstream.to_owned(), prefix.as_bytes().to_vec());
        let counter = lost.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let connection = Connection {
                    upstream: upstream.clone(),
                    prefix: prefix.clone(),
                    armed: armed.clone(),
                    lost: counter.clone(),
                };
                tokio::spawn(connection.relay(client));
            }
        });
        Self {
            url: format!("http://{addr}"),
            lost,
        }
    }

    /// How many answers were lost so far (0 or 1).
    pub fn answers_lost(&self) -> usize {
        self.lost.load(Ordering::SeqCst)
    }
}

struct Connection {
    upstream: String,
    prefix: Vec<u8>,
    armed: Arc<AtomicBool>,
    lost: Arc<AtomicUsize>,
}

impl Connection {
    async fn relay(self, mut client: TcpStream) {
        let Ok(mut server) = TcpStream::connect(&self.upstream).await else {
            return;
        };
        // The start of the first request decides the connection's fate.
        let mut head = vec![0; self.prefix.len().max(1)];
        let mut read = 0;
        while read < head.len() {
            match client.read(&mut head[read..]).await {
                Ok(0) | Err(_) => return,
                Ok(n) => read += n,
            }
        }
        if server.write_all(&head).await.is_err() {
            return;
        }
        let lose = head.starts_with(&self.prefix) && self.armed.swap(false, Ordering::SeqCst);
        if !lose {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            return;
        }
        let (mut client_read, _client_write) = client.split();
        let (mut server_read, mut server_write) = server.split();
        let mut first_byte = [0; 1];
        tokio::select! {
            _ = tokio::io::copy(&mut client_read, &mut server_write) => {}
            answered = server_read.read(&mut first_byte) => {
                if matches!(answered, Ok(n) if n > 0) {
                    self.lost.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        // Both connections are dropped here: the client never gets the answer.
    }
}

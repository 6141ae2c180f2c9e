//! The terminal: one writer thread owns stdout and stderr, so whole lines
//! never interleave and a paused terminal (Ctrl-S, a slow pipe) blocks only
//! the services' output, never the runner's signal handling.

use std::{
    io::Write,
    thread::{self, JoinHandle},
};

use tokio::sync::mpsc;

/// Lines waiting for the terminal at most; past it the services' pipes fill
/// and they wait, as they would writing to the terminal directly.
const QUEUE: usize = 1024;

#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Out,
    Err,
}

/// Where lines are sent; cheap to clone (one per output pump).
#[derive(Clone)]
pub struct Screen(mpsc::Sender<(Stream, Vec<u8>)>);

impl Screen {
    /// The screen and the thread writing to it; the thread ends once every
    /// [`Screen`] is dropped and the queue is drained.
    pub fn open() -> (Self, JoinHandle<()>) {
        let (sender, mut receiver) = mpsc::channel::<(Stream, Vec<u8>)>(QUEUE);
        let writer = thread::spawn(move || {
            let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
            while let Some((stream, line)) = receiver.blocking_recv() {
                // A closed terminal has nowhere to report to; keep draining
                // so the services never block on a full pipe.
                let _ = match stream {
                    Stream::Out => write_line(&mut stdout.lock(), &line),
                    Stream::Err => write_line(&mut stderr.lock(), &line),
                };
            }
        });
        (Self(sender), writer)
    }

    /// Queues a complete line (waits while the terminal is behind).
    pub async fn show(&self, stream: Stream, line: Vec<u8>) {
        let _ = self.0.send((stream, line)).await;
    }

    /// A message of the runner itself, on stderr.
    pub async fn say(&self, message: &str) {
        self.show(Stream::Err, format!("dev-all: {message}\n").into_bytes())
            .await;
    }
}

/// One write and a flush per line: it is on screen when this returns.
fn write_line(out: &mut impl Write, line: &[u8]) -> std::io::Result<()> {
    out.write_all(line)?;
    out.flush()
}

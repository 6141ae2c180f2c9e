//! Console lines leave the request thread through a bounded buffer: a
//! logging thread appends its line under a short lock (a copy, no system
//! call) and a writer thread writes what has gathered to stdout in one
//! `write(2)`, every [`FLUSH_PERIOD`] or as soon as [`WAKE_BYTES`] are
//! waiting. A stalled stdout (a full pipe nobody reads) never blocks a
//! request: once [`DEFAULT_CAPACITY`] bytes wait, further lines are
//! dropped and counted (`telemetry_console_lines_dropped_total`).
//! [`ConsoleBuffer::flush`] writes the rest at shutdown.

use std::{
    io::{self, Write},
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use tracing_subscriber::fmt::MakeWriter;

use super::metrics;

/// Bytes waiting at most; beyond, lines are dropped (and counted).
pub(crate) const DEFAULT_CAPACITY: usize = 4 * 1024 * 1024;
/// The writer thread is woken early once this much waits (one wake-up per
/// this many bytes, never one per line).
const WAKE_BYTES: usize = 64 * 1024;
/// The longest a line waits before it is written.
const FLUSH_PERIOD: Duration = Duration::from_millis(50);

#[derive(Default)]
struct State {
    pending: Vec<u8>,
    /// The writer was woken early and has not taken the bytes yet.
    woken: bool,
    /// The writer holds bytes it has not finished writing.
    in_flight: bool,
    closing: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer.
    work: Condvar,
    /// Tells a flush the writer has written.
    written: Condvar,
    capacity: usize,
    dropped: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The producer side (cheap to clone); a [`MakeWriter`] for the console.
#[derive(Clone)]
pub struct ConsoleBuffer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ConsoleBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleBuffer")
            .field("capacity", &self.shared.capacity)
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl ConsoleBuffer {
    /// Starts the writer thread writing to `sink` (stdout in services).
    pub fn start<W>(sink: W, capacity: usize) -> io::Result<Self>
    where
        W: Write + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            written: Condvar::new(),
            capacity,
            dropped: AtomicU64::new(0),
        });
        let writer = Arc::clone(&shared);
        thread::Builder::new()
            .name("console-writer".to_owned())
            .spawn(move || write_loop(&writer, sink))?;
        Ok(Self { shared })
    }

    /// Lines dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Appends one whole line, or drops and counts it when full.
    fn push(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        if state.pending.len() + line.len() > self.shared.capacity {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            metrics::CONSOLE_LINES_DROPPED.inc();
            return;
        }
        state.pending.extend_from_slice(line);
        if state.pending.len() >= WAKE_BYTES && !state.woken {
            state.woken = true;
            self.shared.work.notify_one();
        }
    }

    /// Writes everything buffered, waiting at most `timeout` (a stdout
    /// nobody reads must not hang the exit); the writer thread then ends.
    pub fn flush(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        state.closing = true;
        self.shared.work.notify_one();
        while !state.pending.is_empty() || state.in_flight {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            state = self
                .shared
                .written
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn write_loop<W: Write>(shared: &Shared, mut sink: W) {
    let mut chunk = Vec::new();
    loop {
        let closing = {
            let mut state = shared.lock();
            if !state.woken && !state.closing {
                state = shared
                    .work
                    .wait_timeout(state, FLUSH_PERIOD)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut chunk, &mut state.pending);
            state.woken = false;
            state.in_flight = !chunk.is_empty();
            state.closing
        };
        if !chunk.is_empty() {
            // A console that cannot be written to has nowhere to report it.
            let _ = sink.write_all(&chunk);
            let _ = sink.flush();
            chunk.clear();
            shared.lock().in_flight = false;
            shared.written.notify_all();
        }
        if closing && shared.lock().pending.is_empty() {
            shared.written.notify_all();
            return;
        }
    }
}

/// One line's writer: the layer writes each line with a single
/// `write_all`, so a call is a whole line.
pub struct LineWriter<'a>(&'a ConsoleBuffer);

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for ConsoleBuffer {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::CapturedOutput;

    #[test]
    fn lines_arrive_in_order_and_flush_writes_the_rest() {
        let output = CapturedOutput::new();
        let console = ConsoleBuffer::start(output.clone(), 1024 * 1024).unwrap();
        for i in 0..1000 {
            console.push(format!("line {i}\n").as_bytes());
        }
        console.flush(Duration::from_secs(30));
        let lines = output.lines();
        assert_eq!(lines.len(), 1000);
        assert_eq!(lines[999], "line 999");
        assert_eq!(console.dropped(), 0);
    }

    /// A sink that blocks until released: a stdout nobody reads.
    struct Stalled(Arc<(Mutex<bool>, Condvar)>);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (released, cv) = &*self.0;
            let mut released = released.lock().unwrap();
            while !*released {
                released = cv.wait(released).unwrap();
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stdout_drops_and_counts_instead_of_blocking() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let console = ConsoleBuffer::start(Stalled(Arc::clone(&gate)), 1000).unwrap();
        // Far more than the capacity: every push returns at once.
        for _ in 0..1000 {
            console.push(&[b'x'; 99]);
        }
        assert!(console.dropped() >= 1000 - 2 * 11, "{}", console.dropped());
        // The flush gives up at its deadline rather than hanging.
        let started = Instant::now();
        console.flush(Duration::from_millis(50));
        assert!(started.elapsed() < Duration::from_secs(20));
        let (released, cv) = &*gate;
        *released.lock().unwrap() = true;
        cv.notify_all();
    }
}

//! A bounded queue read in batches, with a delivery deadline at shutdown:
//! the shape of the bot's event forwarder and the gateway's event batcher.
//!
//! [`channel`] gives the producers' [`mpsc::Sender`], the consumer's
//! [`BatchReceiver`] and a [`Closer`]. The consumer takes a batch when
//! `max_batch` items wait or `flush_interval` after the first one; once
//! [`Closer::close`] is called, the queue takes no more items and hands out
//! what it holds at once, and [`BatchReceiver::before_deadline`] bounds the
//! delivery of each batch by the deadline. What is left at the deadline is
//! the caller's to count ([`BatchReceiver::close_and_drain`]): nothing is
//! lost without the consumer knowing how much.

use std::{future::Future, time::Duration};

use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

/// How items are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Items the queue holds at most (producers see it full beyond).
    pub capacity: usize,
    /// A batch holds at most this many items.
    pub max_batch: usize,
    /// A batch is handed out at the latest this long after its first item.
    pub flush_interval: Duration,
}

/// A bounded queue; see the module documentation.
pub fn channel<T>(config: BatchConfig) -> (mpsc::Sender<T>, BatchReceiver<T>, Closer) {
    let (sender, receiver) = mpsc::channel(config.capacity.max(1));
    let (deadline, shutdown) = watch::channel(None);
    let receiver = BatchReceiver {
        receiver,
        max_batch: config.max_batch.max(1),
        flush_interval: config.flush_interval,
        shutdown,
    };
    (sender, receiver, Closer { deadline })
}

/// Starts the shutdown of a [`BatchReceiver`]; dropping it without
/// [`Closer::close`] closes with a deadline of now.
pub struct Closer {
    deadline: watch::Sender<Option<Instant>>,
}

impl Closer {
    /// No new items; what is queued must be delivered `within` from now.
    pub fn close(&self, within: Duration) {
        self.close_at(Instant::now() + within);
    }

    fn close_at(&self, deadline: Instant) {
        self.deadline.send_if_modified(|current| {
            let first = current.is_none();
            if first {
                *current = Some(deadline);
            }
            first
        });
    }
}

impl Drop for Closer {
    fn drop(&mut self) {
        self.close_at(Instant::now());
    }
}

/// The consuming side.
pub struct BatchReceiver<T> {
    receiver: mpsc::Receiver<T>,
    max_batch: usize,
    flush_interval: Duration,
    /// The delivery deadline, set when the queue is closed.
    shutdown: watch::Receiver<Option<Instant>>,
}

/// The deadline passed before the work finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlinePassed;

impl<T> BatchReceiver<T> {
    /// The delivery deadline, once the queue is closed.
    pub fn deadline(&self) -> Option<Instant> {
        *self.shutdown.borrow()
    }

    /// The next batch (never empty); `None` once the queue is closed (or
    /// every producer is gone) and empty.
    pub async fn next_batch(&mut self) -> Option<Vec<T>> {
        let max = self.max_batch;
        let mut batch = Vec::with_capacity(max);
        if self.deadline().is_none() {
            tokio::select! {
                received = self.receiver.recv_many(&mut batch, max) => {
                    if received == 0 {
                        return None;
                    }
                }
                () = closed(&mut self.shutdown) => {}
            }
        }
        if self.deadline().is_some() {
            // Closing: producers are refused from now on, and what is
            // queued goes out at once.
            self.receiver.close();
            let room = max - batch.len();
            if room > 0 {
                self.receiver.recv_many(&mut batch, room).await;
            }
            return (!batch.is_empty()).then_some(batch);
        }
        let flush_at = Instant::now() + self.flush_interval;
        while batch.len() < max {
            let room = max - batch.len();
            tokio::select! {
                received = tokio::time::timeout_at(flush_at, self.receiver.recv_many(&mut batch, room)) => {
                    match received {
                        // Interval over, or every producer gone (the next
                        // call then ends).
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
                () = closed(&mut self.shutdown) => break,
            }
        }
        Some(batch)
    }

    /// Runs `work` to completion, or until the deadline once the queue is
    /// closed (closing while it runs starts the clock).
    pub async fn before_deadline<F: Future>(
        &mut self,
        work: F,
    ) -> Result<F::Output, DeadlinePassed> {
        tokio::pin!(work);
        loop {
            match self.deadline() {
                Some(deadline) => {
                    return tokio::time::timeout_at(deadline, &mut work)
                        .await
                        .map_err(|_elapsed| DeadlinePassed);
                }
                None => tokio::select! {
                    output = &mut work => return Ok(output),
                    () = closed(&mut self.shutdown) => {}
                },
            }
        }
    }

    /// Closes the queue and returns every item still in it.
    pub fn close_and_drain(&mut self) -> Vec<T> {
        self.receiver.close();
        let mut rest = Vec::new();
        while let Ok(item) = self.receiver.try_recv() {
            rest.push(item);
        }
        rest
    }
}

/// Resolves once the queue is closed (at once if it is).
async fn closed(shutdown: &mut watch::Receiver<Option<Instant>>) {
    // An error means the `Closer` is gone, whose drop sets the deadline
    // first: closed either way.
    let _ = shutdown.wait_for(Option::is_some).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_batch: usize, flush_interval: Duration) -> BatchConfig {
        BatchConfig {
            capacity: 100,
            max_batch,
            flush_interval,
        }
    }

    #[tokio::test]
    async fn a_full_batch_goes_out_before_the_interval() {
        let (sender, mut receiver, _closer) = channel(config(3, Duration::from_secs(3600)));
        for item in 0..7 {
            sender.try_send(item).unwrap();
        }
        assert_eq!(receiver.next_batch().await, Some(vec![0, 1, 2]));
        assert_eq!(receiver.next_batch().await, Some(vec![3, 4, 5]));
    }

    #[tokio::test]
    async fn closing_hands_out_the_queue_at_once_and_refuses_new_items() {
        let (sender, mut receiver, closer) = channel(config(2, Duration::from_secs(3600)));
        for item in 0..3 {
            sender.try_send(item).unwrap();
        }
        closer.close(Duration::from_secs(3600));
        assert_eq!(receiver.next_batch().await, Some(vec![0, 1]));
        assert!(sender.try_send(9).is_err(), "closed: no new items");
        assert_eq!(receiver.next_batch().await, Some(vec![2]));
        assert_eq!(receiver.next_batch().await, None);
    }

    #[tokio::test]
    async fn work_past_the_deadline_is_abandoned_and_the_rest_drained() {
        let (sender, mut receiver, closer) = channel(config(1, Duration::from_secs(3600)));
        for item in 0..3 {
            sender.try_send(item).unwrap();
        }
        let batch = receiver.next_batch().await.unwrap();
        closer.close(Duration::from_millis(10));
        let never = std::future::pending::<()>();
        assert_eq!(receiver.before_deadline(never).await, Err(DeadlinePassed));
        assert_eq!(batch, vec![0]);
        assert_eq!(receiver.close_and_drain(), vec![1, 2]);
    }

    #[tokio::test]
    async fn dropping_the_closer_closes_now() {
        let (sender, mut receiver, closer) = channel(config(5, Duration::from_secs(3600)));
        sender.try_send(1).unwrap();
        drop(closer);
        assert_eq!(receiver.next_batch().await, Some(vec![1]));
        assert!(receiver.deadline().is_some());
        assert_eq!(receiver.next_batch().await, None);
    }
}

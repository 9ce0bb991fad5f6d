//! Whose turn it is to write, on SQLite: one write transaction at a time per process, in
//! the order they asked.
//!
//! SQLite has one write lock per file, and a connection that finds it taken sleeps in
//! its busy handler (1, 2, 5 … 100 ms) and tries again: nothing queues, so whoever asks
//! at the right instant wins. Beside a company sync that committed a chunk every
//! ≈ 0.1 s, the SCIM writer lost that race for over a second at a time (BENCHMARKS.md,
//! "beside a sync"). Taking a turn here first, in a fair (FIFO) queue, means the writer
//! waits for at most the transaction in progress. PostgreSQL locks rows, not the
//! database, so there is no gate there.
//!
//! The gate also remembers when the SCIM writer last wrote, so that long jobs (a sync's
//! chunks) can keep their transactions short while SCIM writes are arriving.

use crate::Backend;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub(crate) struct WriteGate {
    /// `None` on PostgreSQL.
    turn: Option<Arc<Mutex<()>>>,
    started: Instant,
    /// Milliseconds after `started` of the SCIM writer's last batch (0: none yet).
    ingest_at_ms: AtomicU64,
}

/// Held for the length of one write transaction.
pub(crate) type Turn = Option<OwnedMutexGuard<()>>;

impl WriteGate {
    pub(crate) fn new(backend: Backend) -> WriteGate {
        WriteGate {
            turn: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            started: Instant::now(),
            ingest_at_ms: AtomicU64::new(0),
        }
    }

    /// Waits for this process's turn to write (at once on PostgreSQL). Take it before a
    /// pooled connection, never while holding one: the holder of the turn may need a
    /// connection, and connections must not all be held by tasks waiting for the turn.
    pub(crate) async fn turn(&self) -> Turn {
        match &self.turn {
            Some(turn) => Some(turn.clone().lock_owned().await),
            None => None,
        }
    }

    /// [`WriteGate::turn`] from synchronous code that may block its thread (inside
    /// `block_in_place`).
    pub(crate) fn turn_blocking(&self) -> Turn {
        self.turn
            .as_ref()
            .map(|turn| turn.clone().blocking_lock_owned())
    }

    /// The SCIM writer is about to write a batch.
    pub(crate) fn note_ingest(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.ingest_at_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Whether the SCIM writer wrote within `window`, and would wait behind a long
    /// transaction (always false on PostgreSQL, where it would not).
    pub(crate) fn ingest_within(&self, window: Duration) -> bool {
        let at = self.ingest_at_ms.load(Ordering::Relaxed);
        self.turn.is_some()
            && at > 0
            && self.started.elapsed().as_millis() as u64 <= at + window.as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_are_taken_in_the_order_asked() {
        let gate = Arc::new(WriteGate::new(Backend::Sqlite));
        let first = gate.turn().await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for n in 0..5 {
            let (gate, order) = (gate.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _turn = gate.turn().await;
                order.lock().unwrap().push(n);
            }));
            // Each asks after the one before it is queued.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn postgres_has_no_gate_and_no_ingest_to_wait_for() {
        let gate = WriteGate::new(Backend::Postgres);
        let (a, b) = (gate.turn().await, gate.turn().await);
        assert!(a.is_none() && b.is_none());
        gate.note_ingest();
        assert!(!gate.ingest_within(Duration::from_secs(1)));
    }

    #[tokio::test]
    async fn ingest_is_remembered_for_the_window() {
        let gate = WriteGate::new(Backend::Sqlite);
        assert!(!gate.ingest_within(Duration::from_secs(60)));
        gate.note_ingest();
        assert!(gate.ingest_within(Duration::from_secs(60)));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!gate.ingest_within(Duration::from_millis(5)));
    }
}

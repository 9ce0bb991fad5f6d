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
//! The gate also remembers when the SCIM writer last wrote, on both databases, so that
//! long jobs (a sync's chunks, a preview's rows) can keep their transactions short while
//! SCIM writes are arriving: on SQLite a SCIM write still waits for the transaction in
//! progress; on PostgreSQL it waits for the WAL flush that a large commit makes long.

use crate::Backend;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Rows a long job writes per transaction while SCIM writes are arriving. On SQLite a
/// first sync's 5,000 creates held the write lock ≈ 0.1 s, and PATCH p99 beside it was
/// 47 ms with 500 a transaction, 23–25 ms with 250 (16 connections; 21 ms alone); the
/// sync took 8.3 s alone and 12.5 s beside them. On PostgreSQL, PATCH p99 beside a
/// preview refresh went from 2.9× to 1.1–2.5× its p99 alone, beside a sync from
/// 1.75–2.6× to 1.5–2.0× (BENCHMARKS.md). Ingest comes first.
const ROWS_BESIDE_INGEST: usize = 250;

/// How recently a SCIM write must have arrived for long jobs to write in small steps.
const INGEST_WINDOW: Duration = Duration::from_secs(1);

pub(crate) fn rows_per_transaction(gate: &WriteGate, whole: usize) -> usize {
    if gate.ingest_within(INGEST_WINDOW) {
        whole.clamp(1, ROWS_BESIDE_INGEST)
    } else {
        whole.max(1)
    }
}

/// While SCIM writes are arriving, every other write transaction waits, after the one
/// before it, twice as long as that one held the turn: SCIM ingest keeps at least two
/// thirds of the write lock. Small transactions alone were not enough: a preview's 250
/// rows hold it ≈ 10 ms against a SCIM batch's ≈ 2 ms, and taking turns one for one
/// left ingest a sixth of it (PATCH throughput beside a preview refresh fell from 5,500
/// to 1,100 req/s).
const OTHERS_PAUSE_PER_HELD: u32 = 2;

pub(crate) struct WriteGate {
    /// `None` on PostgreSQL.
    turn: Option<Arc<Mutex<()>>>,
    started: Instant,
    /// Milliseconds after `started` of the SCIM writer's last batch (0: none yet).
    ingest_at_ms: AtomicU64,
    /// Microseconds after `started` before which no other writer takes its turn while
    /// SCIM writes are arriving (see [`OTHERS_PAUSE_PER_HELD`]).
    others_resume_at_us: Arc<AtomicU64>,
}

/// Held for the length of one write transaction.
pub(crate) struct Turn {
    /// For another writer than the SCIM writer: when it took the turn, to pace the next.
    paced: Option<(Instant, Instant, Arc<AtomicU64>)>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some((started, took, resume_at)) = &self.paced {
            let now = started.elapsed();
            let pause = took.elapsed() * OTHERS_PAUSE_PER_HELD;
            resume_at.fetch_max((now + pause).as_micros() as u64, Ordering::Relaxed);
        }
    }
}

impl WriteGate {
    pub(crate) fn new(backend: Backend) -> WriteGate {
        WriteGate {
            turn: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            started: Instant::now(),
            ingest_at_ms: AtomicU64::new(0),
            others_resume_at_us: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The SCIM writer's turn to write (at once on PostgreSQL). Take it before a pooled
    /// connection, never while holding one: the holder of the turn may need a
    /// connection, and connections must not all be held by tasks waiting for the turn.
    pub(crate) async fn ingest_turn(&self) -> Turn {
        self.note_ingest();
        Turn {
            paced: None,
            _guard: match &self.turn {
                Some(turn) => Some(turn.clone().lock_owned().await),
                None => None,
            },
        }
    }

    /// Any other writer's turn: after its pause while SCIM writes are arriving, then in
    /// arrival order. As for [`WriteGate::ingest_turn`], before a pooled connection.
    pub(crate) async fn turn(&self) -> Turn {
        let Some(turn) = &self.turn else {
            return Turn {
                paced: None,
                _guard: None,
            };
        };
        if let Some(pause) = self.pause_for_ingest() {
            tokio::time::sleep(pause).await;
        }
        let guard = turn.clone().lock_owned().await;
        self.paced(guard)
    }

    /// [`WriteGate::turn`] from synchronous code that may block its thread (inside
    /// `block_in_place`).
    pub(crate) fn turn_blocking(&self) -> Turn {
        let Some(turn) = &self.turn else {
            return Turn {
                paced: None,
                _guard: None,
            };
        };
        if let Some(pause) = self.pause_for_ingest() {
            std::thread::sleep(pause);
        }
        let guard = turn.clone().blocking_lock_owned();
        self.paced(guard)
    }

    fn paced(&self, guard: OwnedMutexGuard<()>) -> Turn {
        Turn {
            paced: Some((
                self.started,
                Instant::now(),
                self.others_resume_at_us.clone(),
            )),
            _guard: Some(guard),
        }
    }

    /// How long another writer still waits for SCIM ingest, if it is arriving.
    fn pause_for_ingest(&self) -> Option<Duration> {
        if !self.ingest_within(INGEST_WINDOW) {
            return None;
        }
        let resume = Duration::from_micros(self.others_resume_at_us.load(Ordering::Relaxed));
        resume
            .checked_sub(self.started.elapsed())
            .filter(|d| !d.is_zero())
    }

    /// The SCIM writer is about to write a batch.
    fn note_ingest(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.ingest_at_ms.store(ms.max(1), Ordering::Relaxed);
    }

    /// Whether the SCIM writer wrote within `window`.
    pub(crate) fn ingest_within(&self, window: Duration) -> bool {
        let at = self.ingest_at_ms.load(Ordering::Relaxed);
        at > 0 && self.started.elapsed().as_millis() as u64 <= at + window.as_millis() as u64
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
                let _turn = if n % 2 == 0 {
                    gate.turn().await
                } else {
                    gate.ingest_turn().await
                };
                order.lock().unwrap().push(n);
            }));
            // Each asks after the one before it is queued.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(first);
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn beside_ingest_other_writers_pause_twice_as_long_as_the_last_held_the_turn() {
        let gate = WriteGate::new(Backend::Sqlite);
        // No ingest: no pause, however long the last turn was.
        let held = gate.turn().await;
        let took = Instant::now();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let held_for = took.elapsed();
        drop(held);
        assert_eq!(gate.pause_for_ingest(), None);
        // Ingest arriving: the next waits twice that turn from its end (≈ 60 ms).
        drop(gate.ingest_turn().await);
        let pause = gate.pause_for_ingest().expect("a pause beside ingest");
        assert!(pause > Duration::from_millis(30), "{pause:?}");
        assert!(
            pause <= held_for * 2 + Duration::from_millis(1),
            "{pause:?}"
        );
        let asked = Instant::now();
        drop(gate.turn().await);
        assert!(asked.elapsed() >= pause - Duration::from_millis(5));
        // The SCIM writer itself never pauses.
        let asked = Instant::now();
        drop(gate.ingest_turn().await);
        assert!(asked.elapsed() < Duration::from_millis(20));
    }

    #[tokio::test]
    async fn postgres_has_no_gate_and_no_pause_but_small_steps_beside_ingest() {
        let gate = WriteGate::new(Backend::Postgres);
        let (a, b) = (gate.turn().await, gate.turn().await);
        assert!(a._guard.is_none() && b._guard.is_none());
        assert_eq!(rows_per_transaction(&gate, 5_000), 5_000);
        let held = gate.turn().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        drop(gate.ingest_turn().await);
        assert_eq!(gate.pause_for_ingest(), None);
        assert_eq!(rows_per_transaction(&gate, 5_000), ROWS_BESIDE_INGEST);
    }

    #[tokio::test]
    async fn long_jobs_write_small_steps_only_beside_ingest() {
        let gate = WriteGate::new(Backend::Sqlite);
        assert_eq!(rows_per_transaction(&gate, 5_000), 5_000);
        drop(gate.ingest_turn().await);
        assert_eq!(rows_per_transaction(&gate, 5_000), ROWS_BESIDE_INGEST);
        assert_eq!(rows_per_transaction(&gate, 10), 10);
    }

    #[tokio::test]
    async fn ingest_is_remembered_for_the_window() {
        let gate = WriteGate::new(Backend::Sqlite);
        assert!(!gate.ingest_within(Duration::from_secs(60)));
        drop(gate.ingest_turn().await);
        assert!(gate.ingest_within(Duration::from_secs(60)));
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!gate.ingest_within(Duration::from_millis(5)));
    }
}

//! Where a write's time goes, for finding tail latency (issue 14): per batch, how long its
//! writes waited in the queue, how long beginning the transaction took (waiting for
//! SQLite's write lock), how long its statements ran, how long the commit took (the
//! fsync), and how many writes it carried. Summed up every [`WINDOW`] and logged at debug
//! level (`SCIMGATE_LOG=scimgate_store::writer=debug`) as p50 / p99 / max; nothing is
//! kept or computed when that level is off.

use std::time::{Duration, Instant};

/// How often a summary is logged.
const WINDOW: Duration = Duration::from_secs(5);

/// One batch, as the writer timed it.
pub(super) struct BatchTimes {
    /// Per write: from `Store::write` queuing it to its batch starting.
    pub waited: Vec<Duration>,
    pub stages: Stages,
}

/// A committed batch's stages.
pub(super) struct Stages {
    /// Taking the write turn, a connection and beginning the transaction: on SQLite the
    /// batch waits here while another transaction of this process (a sync's chunk, a
    /// preview's rows) has the turn, or another process holds the write lock.
    pub begin: Duration,
    pub statements: Duration,
    /// The commit: the fsync.
    pub commit: Duration,
}

pub(super) struct WriterStats {
    enabled: bool,
    since: Instant,
    waited: Vec<u32>,
    begins: Vec<u32>,
    statements: Vec<u32>,
    commits: Vec<u32>,
    sizes: Vec<u32>,
}

impl WriterStats {
    pub fn new() -> WriterStats {
        WriterStats {
            enabled: tracing::enabled!(target: "scimgate_store::writer", tracing::Level::DEBUG),
            since: Instant::now(),
            waited: Vec::new(),
            begins: Vec::new(),
            statements: Vec::new(),
            commits: Vec::new(),
            sizes: Vec::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn record(&mut self, batch: BatchTimes) {
        if !self.enabled {
            return;
        }
        let micros = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        self.sizes.push(batch.waited.len() as u32);
        self.waited.extend(batch.waited.into_iter().map(micros));
        self.begins.push(micros(batch.stages.begin));
        self.statements.push(micros(batch.stages.statements));
        self.commits.push(micros(batch.stages.commit));
        if self.since.elapsed() >= WINDOW {
            self.log();
        }
    }

    fn log(&mut self) {
        tracing::debug!(
            target: "scimgate_store::writer",
            batches = self.sizes.len(),
            writes = self.waited.len(),
            batch_size = %summary(&mut self.sizes, 1),
            queue_wait_ms = %summary(&mut self.waited, 1_000),
            begin_ms = %summary(&mut self.begins, 1_000),
            statements_ms = %summary(&mut self.statements, 1_000),
            commit_ms = %summary(&mut self.commits, 1_000),
            "writer stages (p50/p99/max)"
        );
        self.since = Instant::now();
        self.sizes.clear();
        self.waited.clear();
        self.begins.clear();
        self.statements.clear();
        self.commits.clear();
    }
}

/// `p50/p99/max` of `values`, each divided by `unit`.
fn summary(values: &mut [u32], unit: u32) -> String {
    if values.is_empty() {
        return "-".into();
    }
    values.sort_unstable();
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    let show = |v: u32| {
        if unit == 1 {
            v.to_string()
        } else {
            format!("{:.1}", f64::from(v) / f64::from(unit))
        }
    };
    format!(
        "{}/{}/{}",
        show(at(0.5)),
        show(at(0.99)),
        show(values[values.len() - 1])
    )
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn summaries_read_percentiles_in_the_unit() {
        let mut values: Vec<u32> = (1..=1_000).map(|v| v * 1_000).collect();
        assert_eq!(summary(&mut values, 1_000), "501.0/990.0/1000.0");
        assert_eq!(summary(&mut [3, 1, 2], 1), "2/3/3");
        assert_eq!(summary(&mut [], 1), "-");
    }
}

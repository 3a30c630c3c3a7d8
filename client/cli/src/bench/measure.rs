//! Measuring a phase: the shared progress counters, the sampler that turns them into a
//! throughput timeline and a progress bar, the latency histograms, and the sum of the workers'
//! outcomes as a [`PhaseReport`].

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinSet;

use super::report::{LatencySummary, PhaseReport, ThroughputSample};

/// Largest latency the histograms hold (µs); larger values are clamped to it.
pub(super) const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Interval of the throughput timeline and of progress-bar refreshes.
pub(super) const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// Shared counters of a running phase: what the sampler and progress bar read.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub(super) records: AtomicU64,
    /// Set (after `elapsed_us`) when the phase ended.
    done: AtomicBool,
    /// Length of the phase, so the last timeline interval ends when the phase did.
    elapsed_us: AtomicU64,
}

impl Progress {
    pub(super) fn finish(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.elapsed_us.store(us, Ordering::Relaxed);
        self.done.store(true, Ordering::Release);
    }
}

/// Samples `progress` every [`SAMPLE_INTERVAL`] into a timeline and the progress bar, until
/// `progress.done` is set.
pub(super) fn spawn_sampler(
    label: &'static str,
    total: u64,
    progress: Arc<Progress>,
    shown: bool,
    start: Instant,
) -> tokio::task::JoinHandle<Vec<ThroughputSample>> {
    tokio::spawn(async move {
        let bar = if shown && std::io::stderr().is_terminal() {
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>8} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(label);
        let mut timeline = Vec::new();
        let mut last_records = 0;
        let mut last_t = 0.0;
        let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let done = progress.done.load(Ordering::Acquire);
            let records = progress.records.load(Ordering::Relaxed);
            let t = if done {
                progress.elapsed_us.load(Ordering::Relaxed) as f64 / 1e6
            } else {
                start.elapsed().as_secs_f64()
            };
            // A sliver of an interval at the end would be noise, not a rate.
            if t > last_t + SAMPLE_INTERVAL.as_secs_f64() / 4.0 {
                timeline.push(ThroughputSample {
                    t_s: t,
                    records_per_s: (records - last_records) as f64 / (t - last_t),
                });
            }
            last_records = records;
            last_t = t;
            bar.set_position(records);
            if done {
                break;
            }
        }
        bar.finish_and_clear();
        timeline
    })
}

pub(super) fn new_histogram() -> Histogram<u64> {
    // 3 significant digits from 1 µs to an hour: ~0.1 % error, as HdrHistogram's tools use.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

pub(super) fn record_us(h: &mut Histogram<u64>, elapsed: Duration) {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    h.saturating_record(us.clamp(1, MAX_LATENCY_US));
}

pub(super) struct WorkerOutcome {
    pub(super) histogram: Histogram<u64>,
    pub(super) requests: u64,
    pub(super) records: u64,
}

pub(super) async fn join_workers(
    mut set: JoinSet<anyhow::Result<WorkerOutcome>>,
) -> anyhow::Result<WorkerOutcome> {
    let mut total = WorkerOutcome {
        histogram: new_histogram(),
        requests: 0,
        records: 0,
    };
    while let Some(joined) = set.join_next().await {
        let outcome = joined.context("a bench task panicked")??;
        total.histogram.add(&outcome.histogram)?;
        total.requests += outcome.requests;
        total.records += outcome.records;
    }
    Ok(total)
}

pub(super) fn phase_report(
    phase: &str,
    what: &str,
    outcome: &WorkerOutcome,
    record_bytes: usize,
    elapsed: Duration,
    timeline: Vec<ThroughputSample>,
) -> PhaseReport {
    let elapsed_s = elapsed.as_secs_f64().max(1e-9);
    let payload_bytes = outcome.records * record_bytes as u64;
    PhaseReport {
        phase: phase.to_owned(),
        records: outcome.records,
        payload_bytes,
        requests: outcome.requests,
        elapsed_s,
        records_per_s: outcome.records as f64 / elapsed_s,
        mb_per_s: payload_bytes as f64 / 1e6 / elapsed_s,
        latency: LatencySummary::from_histogram(what, &outcome.histogram),
        timeline,
    }
}

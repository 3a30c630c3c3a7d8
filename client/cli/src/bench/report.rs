//! The results of a run: the JSON layout of `--json` ([`BenchReport`] and its parts) and the
//! table printed on stdout.

use std::io::Write;

use clap::ValueEnum;
use hdrhistogram::Histogram;
use serde::Serialize;

use super::args::BenchConfig;

/// Latency percentiles of one phase, in µs.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    /// What one sample is (e.g. "produce request round trip").
    pub what: String,
    pub count: u64,
    pub min_us: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p99_9_us: u64,
    pub max_us: u64,
    /// Latency at quantiles for the chart: `[quantile, µs]`, quantile in 0..=1.
    pub by_quantile: Vec<(f64, u64)>,
}

impl LatencySummary {
    pub(super) fn from_histogram(what: &str, h: &Histogram<u64>) -> Self {
        let mut by_quantile = Vec::new();
        // Evenly spaced in "nines" (-log10(1 - q)) from 0 to 5, as HdrHistogram plots are.
        for i in 0..=100 {
            let nines = f64::from(i) * 0.05;
            let q = 1.0 - 10f64.powf(-nines);
            by_quantile.push((q, h.value_at_quantile(q)));
        }
        Self {
            what: what.to_owned(),
            count: h.len(),
            min_us: h.min(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            p99_9_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            by_quantile,
        }
    }
}

/// One point of the throughput timeline.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ThroughputSample {
    /// End of the interval, seconds since the phase started.
    pub t_s: f64,
    /// Records per second over the interval.
    pub records_per_s: f64,
}

/// The results of one measured phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseReport {
    /// `produce`, `consume` or `end-to-end`.
    pub phase: String,
    pub records: u64,
    /// Payload bytes (values only).
    pub payload_bytes: u64,
    /// HTTP requests sent (produce requests or fetches).
    pub requests: u64,
    pub elapsed_s: f64,
    pub records_per_s: f64,
    /// Payload MB (10^6 bytes) per second.
    pub mb_per_s: f64,
    pub latency: LatencySummary,
    pub timeline: Vec<ThroughputSample>,
}

/// Everything `--json` writes.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Version of this JSON layout.
    pub format_version: u32,
    pub broker_url: String,
    pub config: BenchConfig,
    /// Start of the run, ms since the Unix epoch.
    pub started_at_ms: u64,
    pub phases: Vec<PhaseReport>,
}

/// The command-line spelling of an option value.
pub(super) fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_owned())
        .unwrap_or_default()
}

/// The mode as the user asked for it (`single` for `--single`).
pub(super) fn mode_name(c: &BenchConfig) -> String {
    if c.single {
        "single".to_owned()
    } else {
        value_name(c.mode)
    }
}

pub(super) fn print_table(out: &mut impl Write, report: &BenchReport) -> std::io::Result<()> {
    let c = &report.config;
    writeln!(
        out,
        "wharf bench: {} | topic {} ({} partitions) | {} records x {} B | batch {} | producers {} | consumers {} | acks {} | encoding {} ({} values)",
        mode_name(c),
        c.topic,
        c.partitions,
        c.records,
        c.record_bytes,
        c.batch_size,
        c.producers,
        c.consumers,
        c.acks,
        value_name(c.encoding),
        value_name(c.values),
    )?;
    writeln!(
        out,
        "{:<11}{:>10}{:>10}{:>13}{:>9}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "phase",
        "records",
        "elapsed s",
        "records/s",
        "MB/s",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "requests"
    )?;
    for p in &report.phases {
        let l = &p.latency;
        writeln!(
            out,
            "{:<11}{:>10}{:>10.2}{:>13.0}{:>9.2}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
            p.phase,
            p.records,
            p.elapsed_s,
            p.records_per_s,
            p.mb_per_s,
            l.p50_us,
            l.p90_us,
            l.p99_us,
            l.p99_9_us,
            l.max_us,
            p.requests
        )?;
    }
    for p in &report.phases {
        writeln!(out, "latency of {}: {}", p.phase, p.latency.what)?;
    }
    Ok(())
}

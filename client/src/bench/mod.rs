//! `wharf bench`: measures the broker with the low-level [`Client`] (one HTTP request per
//! batch, keep-alive connections, no batching producer in between).
//!
//! - this module: the options ([`BenchArgs`]), the phases (produce, consume, end-to-end), the
//!   measurements (HDR histograms of request round trips, a throughput timeline) and the
//!   results ([`BenchReport`]: a table on stdout, JSON with `--json`).
//! - [`chart`]: the PNG chart (`--chart`): throughput over time and latency by percentile.
//!
//! # Modes
//! - `produce-consume` (default; workload W): the producers send every record, then the
//!   consumers read every record back. Both phases are reported.
//! - `produce`: only the produce phase.
//! - `consume`: the topic is filled first (not reported), then read back.
//! - `end-to-end`: producers and consumers run at once; each value starts with its send time
//!   (µs since the bench started, 20 decimal digits) and the latency is send → received by a
//!   consumer, per record. Each consumer long-polls each of its partitions with its own
//!   request so a record is read as soon as it lands.
//! - `--single`: sequential single-record produce requests from one producer (produce phase
//!   only); the latency percentiles are those of one request.
//!
//! # Decisions
//! - Records/s and MB/s count payload bytes (the values), MB = 10^6 bytes. Latency is the
//!   round trip of one produce request (per batch) or one fetch (per fetch), in µs; in
//!   end-to-end mode per record.
//! - Keyless records without a partition: the broker's sticky partitioner sends each request
//!   to the next partition, so batches spread over the partitions without per-record fields.
//! - Produce phases reuse one pre-encoded request body per producer (one for full batches, one
//!   for the last, shorter batch; [`Client::encode_batch`]) so the tool spends its CPU on the
//!   requests, not on building them (the machine is shared with the broker).
//! - Any refused record or failed request ends the bench with an error: figures of a run that
//!   lost records would be wrong. The topic is deleted at the end (also after a failure)
//!   unless `--keep`.

pub mod chart;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use tokio::task::JoinSet;
use wharf_proto::api::CreateTopic;

use crate::client::{Acks, Client, EncodedBatch, FetchOptions};
use crate::record::{Record, ValueFormat};

/// Largest latency the histograms hold (µs); larger values are clamped to it.
const MAX_LATENCY_US: u64 = 3_600_000_000;
/// Interval of the throughput timeline and of progress-bar refreshes.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);
/// Width of the send timestamp at the start of an end-to-end value.
const STAMP_DIGITS: usize = 20;
/// Long-poll wait of the end-to-end readers (they also stop when every record arrived).
const E2E_WAIT_MS: u64 = 500;

/// What the bench runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchMode {
    /// Produce every record, then consume every record (workload W).
    ProduceConsume,
    /// Produce only.
    Produce,
    /// Fill the topic (not measured), then consume it.
    Consume,
    /// Produce and consume at once; latency = send → receive per record.
    EndToEnd,
}

/// How produce requests and fetch answers are encoded on the wire (the client's
/// [`crate::client::Encoding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// The binary batch encoding, `application/vnd.wharf.batch.v1` (the client's default).
    Binary,
    /// JSON bodies of HTTP API v1.
    Json,
}

impl From<Encoding> for crate::client::Encoding {
    fn from(e: Encoding) -> Self {
        match e {
            Encoding::Binary => crate::client::Encoding::Binary,
            Encoding::Json => crate::client::Encoding::Json,
        }
    }
}

/// How values travel inside the JSON encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueKind {
    /// Raw bytes, sent as `value_b64`.
    Bytes,
    /// A JSON string of exactly `--record-bytes` bytes (quotes included), sent as `value`.
    Json,
}

/// Options of `wharf bench` (the defaults are workload W).
#[derive(Debug, Clone, Args, Serialize)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(long, value_enum, default_value_t = BenchMode::ProduceConsume)]
    pub mode: BenchMode,
    /// Sequential single-record produce requests (latency mode; produce only, one producer).
    #[arg(long, conflicts_with_all = ["mode", "batch_size", "producers"])]
    pub single: bool,
    /// Records to produce in total [default: 1000000, or 10000 with --single].
    #[arg(long)]
    pub records: Option<u64>,
    /// Bytes of each value (the payload counted in MB/s).
    #[arg(long, default_value_t = 100)]
    pub record_bytes: usize,
    /// Records per produce request, and most records per fetch.
    #[arg(long, default_value_t = 1000)]
    pub batch_size: usize,
    /// Partitions of the bench topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: u32,
    /// Concurrent producer tasks (they share the batches).
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Concurrent consumer tasks (consumer i reads partitions p with p % consumers == i).
    #[arg(long, default_value_t = 1)]
    pub consumers: usize,
    /// When the broker answers a produce request: all (after fsync), leader or none.
    #[arg(long, default_value_t = Acks::All)]
    pub acks: Acks,
    /// Wire encoding of requests and answers.
    #[arg(long, value_enum, default_value_t = Encoding::Binary)]
    pub encoding: Encoding,
    /// How values travel in the JSON encoding: bytes (`value_b64`) or a JSON string (`value`).
    #[arg(long, value_enum, default_value_t = ValueKind::Bytes)]
    pub values: ValueKind,
    /// Topic to create and use [default: a fresh bench-<timestamp>].
    #[arg(long)]
    pub topic: Option<String>,
    /// Keep the topic at the end instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a PNG chart (throughput over time, latency by percentile) to this file.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,
}

/// The options after defaults and checks.
#[derive(Debug, Clone, Serialize)]
pub struct BenchConfig {
    pub mode: BenchMode,
    pub single: bool,
    pub records: u64,
    pub record_bytes: usize,
    pub batch_size: usize,
    pub partitions: u32,
    pub producers: usize,
    pub consumers: usize,
    pub acks: Acks,
    pub encoding: Encoding,
    pub values: ValueKind,
    pub topic: String,
    pub keep: bool,
}

impl BenchArgs {
    /// Applies the defaults and refuses impossible combinations.
    pub fn resolve(&self) -> anyhow::Result<BenchConfig> {
        let (mode, batch_size, producers) = if self.single {
            (BenchMode::Produce, 1, 1)
        } else {
            (self.mode, self.batch_size, self.producers)
        };
        let records = self
            .records
            .unwrap_or(if self.single { 10_000 } else { 1_000_000 });
        ensure!(records > 0, "--records must be at least 1");
        ensure!(batch_size > 0, "--batch-size must be at least 1");
        ensure!(self.partitions > 0, "--partitions must be at least 1");
        ensure!(producers > 0, "--producers must be at least 1");
        ensure!(self.consumers > 0, "--consumers must be at least 1");
        let min_bytes = match (mode, self.values) {
            (BenchMode::EndToEnd, ValueKind::Bytes) => STAMP_DIGITS,
            (BenchMode::EndToEnd, ValueKind::Json) => STAMP_DIGITS + 2,
            (_, ValueKind::Bytes) => 1,
            (_, ValueKind::Json) => 2,
        };
        ensure!(
            self.record_bytes >= min_bytes,
            "--record-bytes must be at least {min_bytes} with these options"
        );
        if mode == BenchMode::EndToEnd && self.acks == Acks::None {
            bail!("end-to-end mode needs acks all or leader");
        }
        let topic = match &self.topic {
            Some(t) => t.clone(),
            None => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                format!("bench-{}", now.as_millis())
            }
        };
        Ok(BenchConfig {
            mode,
            single: self.single,
            records,
            record_bytes: self.record_bytes,
            batch_size,
            partitions: self.partitions,
            producers,
            consumers: self.consumers,
            acks: self.acks,
            encoding: self.encoding,
            values: self.values,
            topic,
            keep: self.keep,
        })
    }
}

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
    fn from_histogram(what: &str, h: &Histogram<u64>) -> Self {
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

/// Runs `wharf bench` and prints the table (and writes `--json` / `--chart`).
pub async fn run(client: Client, args: BenchArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    let client = client.with_encoding(config.encoding.into());
    let started_at_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX);
    client
        .create_topic(&CreateTopic {
            name: config.topic.clone(),
            partitions: config.partitions,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
        })
        .await
        .with_context(|| format!("creating the bench topic {}", config.topic))?;

    let outcome = run_phases(&client, &config).await;
    if !config.keep
        && let Err(e) = client.delete_topic(&config.topic).await
    {
        eprintln!(
            "wharf bench: warning: could not delete topic {}: {e}",
            config.topic
        );
    }
    let phases = outcome?;
    let report = BenchReport {
        format_version: 1,
        broker_url: client.url().to_owned(),
        config,
        started_at_ms,
        phases,
    };
    print_table(&mut std::io::stdout().lock(), &report)?;
    if let Some(path) = &args.json {
        let text = serde_json::to_vec_pretty(&report)?;
        write_atomically(path, &text)?;
    }
    if let Some(path) = &args.chart {
        chart::write_png(&report, path)?;
    }
    Ok(())
}

/// Writes through a temporary sibling and a rename, so a failed run leaves no half file.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

async fn run_phases(client: &Client, config: &BenchConfig) -> anyhow::Result<Vec<PhaseReport>> {
    let mut phases = Vec::new();
    match config.mode {
        BenchMode::ProduceConsume => {
            phases.push(produce_phase(client, config, true).await?);
            wait_until_stored(client, config).await?;
            phases.push(consume_phase(client, config).await?);
        }
        BenchMode::Produce => phases.push(produce_phase(client, config, true).await?),
        BenchMode::Consume => {
            produce_phase(client, config, false).await?;
            wait_until_stored(client, config).await?;
            phases.push(consume_phase(client, config).await?);
        }
        BenchMode::EndToEnd => phases.push(end_to_end_phase(client, config).await?),
    }
    Ok(phases)
}

/// With `acks=none` the broker answers before it appends: wait until the log holds every
/// record, so the consume phase reads them all.
async fn wait_until_stored(client: &Client, config: &BenchConfig) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let described = client
            .describe_topic(&config.topic)
            .await
            .context("describing the bench topic")?;
        let stored: u64 = described
            .partition_states
            .iter()
            .map(|p| p.high_watermark - p.log_start_offset)
            .sum();
        if stored >= config.records {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the topic holds {stored} of {} produced records after 60 s",
            config.records
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Shared counters of a running phase: what the sampler and progress bar read.
#[derive(Debug, Default)]
struct Progress {
    records: AtomicU64,
    /// Set (after `elapsed_us`) when the phase ended.
    done: AtomicBool,
    /// Length of the phase, so the last timeline interval ends when the phase did.
    elapsed_us: AtomicU64,
}

impl Progress {
    fn finish(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.elapsed_us.store(us, Ordering::Relaxed);
        self.done.store(true, Ordering::Release);
    }
}

/// Samples `progress` every [`SAMPLE_INTERVAL`] into a timeline and the progress bar, until
/// `progress.done` is set.
fn spawn_sampler(
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

fn new_histogram() -> Histogram<u64> {
    // 3 significant digits from 1 µs to an hour: ~0.1 % error, as HdrHistogram's tools use.
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

fn record_us(h: &mut Histogram<u64>, elapsed: Duration) {
    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    h.saturating_record(us.clamp(1, MAX_LATENCY_US));
}

/// The value of a record: `record_bytes` bytes, optionally starting with a send stamp.
fn value_bytes(record_bytes: usize, kind: ValueKind, stamp_us: Option<u64>) -> Bytes {
    let quoted = kind == ValueKind::Json;
    let inner = record_bytes - if quoted { 2 } else { 0 };
    let mut v = Vec::with_capacity(record_bytes);
    if quoted {
        v.push(b'"');
    }
    let body_start = v.len();
    if let Some(us) = stamp_us {
        v.extend_from_slice(format!("{us:0STAMP_DIGITS$}").as_bytes());
    }
    let filled = v.len() - body_start;
    // Letters only: valid inside a JSON string without escaping.
    v.extend((filled..inner).map(|i| b'a' + (i % 26) as u8));
    if quoted {
        v.push(b'"');
    }
    debug_assert_eq!(v.len(), record_bytes);
    Bytes::from(v)
}

fn make_record(value: Bytes, kind: ValueKind) -> Record {
    let mut r = Record::bytes(value);
    if kind == ValueKind::Json {
        r.value_format = ValueFormat::Json;
    }
    r
}

/// Reads the send stamp back from an end-to-end value.
fn parse_stamp(value: &[u8]) -> Option<u64> {
    let digits = match value.first() {
        Some(b'"') => value.get(1..=STAMP_DIGITS)?,
        _ => value.get(..STAMP_DIGITS)?,
    };
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Number of records in batch `index` of `total` records cut into batches of `batch_size`.
fn batch_len(index: u64, total: u64, batch_size: usize) -> usize {
    let start = index * batch_size as u64;
    usize::try_from((total - start).min(batch_size as u64)).unwrap_or(batch_size)
}

/// Checks that the broker stored every record of a produce answer.
fn check_answer(
    answer: &crate::client::ProduceAnswer,
    sent: usize,
    acks: Acks,
) -> anyhow::Result<()> {
    if acks == Acks::None {
        ensure!(
            answer.status == 202 || answer.status == 200,
            "produce answered {} with acks=none",
            answer.status
        );
        return Ok(());
    }
    ensure!(
        answer.results.len() == sent,
        "produce answered {} results for {sent} records",
        answer.results.len()
    );
    if let Some(err) = answer.results.iter().find_map(|r| r.error.as_ref()) {
        bail!(
            "the broker refused a record (status {}): {} ({})",
            answer.status,
            err.message,
            err.code
        );
    }
    Ok(())
}

struct WorkerOutcome {
    histogram: Histogram<u64>,
    requests: u64,
    records: u64,
}

async fn join_workers(
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

fn phase_report(
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

/// Producers share the batches through one counter; each sends one request at a time.
async fn produce_phase(
    client: &Client,
    config: &BenchConfig,
    shown: bool,
) -> anyhow::Result<PhaseReport> {
    let total_batches = config.records.div_ceil(config.batch_size as u64);
    let next_batch = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Progress::default());
    let value = value_bytes(config.record_bytes, config.values, None);
    let start = Instant::now();
    let sampler = spawn_sampler(
        "produce",
        config.records,
        Arc::clone(&progress),
        shown,
        start,
    );
    let mut set = JoinSet::new();
    for _ in 0..config.producers {
        let client = client.clone();
        let config = config.clone();
        let next_batch = Arc::clone(&next_batch);
        let progress = Arc::clone(&progress);
        let value = value.clone();
        set.spawn(async move {
            // One request body per batch length (full batches, and the last one).
            let records: Vec<Record> = (0..config.batch_size)
                .map(|_| make_record(value.clone(), config.values))
                .collect();
            let full = client.encode_batch(&records)?;
            let mut last: Option<EncodedBatch> = None;
            let mut out = WorkerOutcome {
                histogram: new_histogram(),
                requests: 0,
                records: 0,
            };
            let acks = config.acks;
            loop {
                let index = next_batch.fetch_add(1, Ordering::Relaxed);
                if index >= total_batches {
                    break;
                }
                let n = batch_len(index, config.records, config.batch_size);
                let body = if n == full.records {
                    &full
                } else {
                    last.get_or_insert(client.encode_batch(&records[..n])?)
                };
                let sent = Instant::now();
                let answer = client
                    .produce_encoded(&config.topic, body, acks, None)
                    .await
                    .context("produce request failed")?;
                record_us(&mut out.histogram, sent.elapsed());
                check_answer(&answer, n, config.acks)?;
                out.requests += 1;
                out.records += n as u64;
                progress.records.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(out)
        });
    }
    let joined = join_workers(set).await;
    let elapsed = start.elapsed();
    progress.finish(elapsed);
    let timeline = sampler.await.context("sampler task")?;
    let outcome = joined?;
    debug_assert_eq!(outcome.records, config.records);
    let what = if config.single {
        "single-record produce request round trip"
    } else {
        "produce request round trip (one batch)"
    };
    Ok(phase_report(
        "produce",
        what,
        &outcome,
        config.record_bytes,
        elapsed,
        timeline,
    ))
}

fn fetch_options(config: &BenchConfig, offset: u64, wait_ms: u64) -> FetchOptions {
    // Let --batch-size, not the broker's 1 MiB default, bound a fetch.
    let max_bytes = config
        .batch_size
        .saturating_mul(config.record_bytes * 2 + 256)
        .min(64 << 20);
    FetchOptions {
        max_records: Some(config.batch_size.min(100_000)),
        max_bytes: Some(max_bytes),
        wait_ms,
        ..FetchOptions::at(offset)
    }
}

/// Consumers read their partitions (p % consumers == i) round-robin, one fetch at a time,
/// each up to the high watermark it had when the phase started.
async fn consume_phase(client: &Client, config: &BenchConfig) -> anyhow::Result<PhaseReport> {
    let described = client
        .describe_topic(&config.topic)
        .await
        .context("describing the bench topic")?;
    let ends: Vec<(u32, u64, u64)> = described
        .partition_states
        .iter()
        .map(|p| (p.partition, p.log_start_offset, p.high_watermark))
        .collect();
    let total: u64 = ends.iter().map(|(_, start, end)| end - start).sum();
    let progress = Arc::new(Progress::default());
    let start = Instant::now();
    let sampler = spawn_sampler("consume", total, Arc::clone(&progress), true, start);
    let mut set = JoinSet::new();
    for i in 0..config.consumers {
        let mine: Vec<(u32, u64, u64)> = ends
            .iter()
            .copied()
            .filter(|(p, _, _)| *p as usize % config.consumers == i)
            .collect();
        let client = client.clone();
        let config = config.clone();
        let progress = Arc::clone(&progress);
        set.spawn(async move {
            let mut out = WorkerOutcome {
                histogram: new_histogram(),
                requests: 0,
                records: 0,
            };
            // (partition, next offset, end)
            let mut open: Vec<(u32, u64, u64)> =
                mine.into_iter().filter(|(_, s, e)| s < e).collect();
            while !open.is_empty() {
                let mut k = 0;
                while k < open.len() {
                    let (p, offset, end) = open[k];
                    let sent = Instant::now();
                    let batch = client
                        .fetch(&config.topic, p, fetch_options(&config, offset, 0))
                        .await
                        .with_context(|| format!("fetch from partition {p} failed"))?;
                    record_us(&mut out.histogram, sent.elapsed());
                    out.requests += 1;
                    let n = batch.records.iter().filter(|r| r.offset < end).count() as u64;
                    ensure!(
                        batch.next_offset > offset,
                        "fetch from partition {p} at {offset} returned nothing below the high watermark {end}"
                    );
                    out.records += n;
                    progress.records.fetch_add(n, Ordering::Relaxed);
                    if batch.next_offset >= end {
                        open.swap_remove(k);
                    } else {
                        open[k].1 = batch.next_offset;
                        k += 1;
                    }
                }
            }
            Ok(out)
        });
    }
    let joined = join_workers(set).await;
    let elapsed = start.elapsed();
    progress.finish(elapsed);
    let timeline = sampler.await.context("sampler task")?;
    let outcome = joined?;
    ensure!(
        outcome.records == total,
        "consumed {} records, the topic holds {total}",
        outcome.records
    );
    Ok(phase_report(
        "consume",
        "fetch round trip",
        &outcome,
        config.record_bytes,
        elapsed,
        timeline,
    ))
}

/// Producers stamp each value; one reader task per partition long-polls until every record
/// arrived. Latency is per record, send → fetched.
async fn end_to_end_phase(client: &Client, config: &BenchConfig) -> anyhow::Result<PhaseReport> {
    let total_batches = config.records.div_ceil(config.batch_size as u64);
    let next_batch = Arc::new(AtomicU64::new(0));
    let consumed = Arc::new(Progress::default());
    let start = Instant::now();
    let sampler = spawn_sampler("e2e", config.records, Arc::clone(&consumed), true, start);
    // Fails the readers out of their long polls when the producers failed.
    let abort = Arc::new(AtomicBool::new(false));

    let mut readers = JoinSet::new();
    for p in 0..config.partitions {
        let client = client.clone();
        let config = config.clone();
        let consumed = Arc::clone(&consumed);
        let abort = Arc::clone(&abort);
        readers.spawn(async move {
            let mut out = WorkerOutcome {
                histogram: new_histogram(),
                requests: 0,
                records: 0,
            };
            let mut offset = 0;
            while consumed.records.load(Ordering::Acquire) < config.records
                && !abort.load(Ordering::Acquire)
            {
                let batch = client
                    .fetch(
                        &config.topic,
                        p,
                        fetch_options(&config, offset, E2E_WAIT_MS),
                    )
                    .await
                    .with_context(|| format!("fetch from partition {p} failed"))?;
                let now_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                out.requests += 1;
                for r in &batch.records {
                    let stamp = parse_stamp(&r.value).with_context(|| {
                        format!("record {p}/{} carries no send stamp", r.offset)
                    })?;
                    out.histogram
                        .saturating_record(now_us.saturating_sub(stamp).clamp(1, MAX_LATENCY_US));
                }
                let n = batch.records.len() as u64;
                out.records += n;
                consumed.records.fetch_add(n, Ordering::AcqRel);
                offset = batch.next_offset;
            }
            Ok(out)
        });
    }

    let mut producers = JoinSet::new();
    for _ in 0..config.producers {
        let client = client.clone();
        let config = config.clone();
        let next_batch = Arc::clone(&next_batch);
        producers.spawn(async move {
            let acks = config.acks;
            loop {
                let index = next_batch.fetch_add(1, Ordering::Relaxed);
                if index >= total_batches {
                    break;
                }
                let n = batch_len(index, config.records, config.batch_size);
                let stamp = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
                let records: Vec<Record> = (0..n)
                    .map(|_| {
                        make_record(
                            value_bytes(config.record_bytes, config.values, Some(stamp)),
                            config.values,
                        )
                    })
                    .collect();
                let answer = client
                    .produce_records(&config.topic, &records, acks, None)
                    .await
                    .context("produce request failed")?;
                check_answer(&answer, n, config.acks)?;
            }
            anyhow::Ok(WorkerOutcome {
                histogram: new_histogram(),
                requests: 0,
                records: 0,
            })
        });
    }
    let produced = join_workers(producers).await;
    if produced.is_err() {
        abort.store(true, Ordering::Release);
    }
    let joined = join_workers(readers).await;
    let elapsed = start.elapsed();
    consumed.finish(elapsed);
    let timeline = sampler.await.context("sampler task")?;
    produced?;
    let outcome = joined?;
    ensure!(
        outcome.records == config.records,
        "consumed {} records, produced {}",
        outcome.records,
        config.records
    );
    Ok(phase_report(
        "end-to-end",
        "send → fetched, per record",
        &outcome,
        config.record_bytes,
        elapsed,
        timeline,
    ))
}

/// The command-line spelling of an option value.
fn value_name(v: impl ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_owned())
        .unwrap_or_default()
}

/// The mode as the user asked for it (`single` for `--single`).
fn mode_name(c: &BenchConfig) -> String {
    if c.single {
        "single".to_owned()
    } else {
        value_name(c.mode)
    }
}

fn print_table(out: &mut impl Write, report: &BenchReport) -> std::io::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_exactly_the_requested_size_and_carry_their_stamp() {
        for kind in [ValueKind::Bytes, ValueKind::Json] {
            for size in [22, 23, 100, 1000] {
                let v = value_bytes(size, kind, Some(1_234_567));
                assert_eq!(v.len(), size);
                assert_eq!(parse_stamp(&v), Some(1_234_567));
                let plain = value_bytes(size, kind, None);
                assert_eq!(plain.len(), size);
            }
        }
        let json = value_bytes(30, ValueKind::Json, Some(5));
        let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert!(parsed.is_string());
        assert_eq!(value_bytes(1, ValueKind::Bytes, None).len(), 1);
        assert_eq!(&value_bytes(2, ValueKind::Json, None)[..], b"\"\"");
    }

    #[test]
    fn batches_cover_every_record_once() {
        let total: u64 = 2_500;
        let batches = total.div_ceil(1000);
        let lens: Vec<usize> = (0..batches).map(|i| batch_len(i, total, 1000)).collect();
        assert_eq!(lens, vec![1000, 1000, 500]);
    }

    #[test]
    fn single_mode_forces_one_producer_sending_one_record_per_request() {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            args: BenchArgs,
        }
        let w = Wrap::try_parse_from(["x", "--single", "--acks", "leader"]).unwrap();
        let c = w.args.resolve().unwrap();
        assert_eq!(
            (c.mode, c.batch_size, c.producers, c.records),
            (BenchMode::Produce, 1, 1, 10_000)
        );
        assert!(Wrap::try_parse_from(["x", "--single", "--batch-size", "5"]).is_err());
        let e2e =
            Wrap::try_parse_from(["x", "--mode", "end-to-end", "--record-bytes", "10"]).unwrap();
        assert!(e2e.args.resolve().is_err());
    }
}

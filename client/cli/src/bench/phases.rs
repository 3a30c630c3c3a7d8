//! The measured phases: produce, consume and end-to-end, each run by concurrent worker tasks
//! over the low-level [`Client`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use tokio::task::JoinSet;
use wharf_client::{Client, EncodedBatch, FetchOptions, Record};

use super::args::{BenchConfig, BenchMode};
use super::measure::{
    MAX_LATENCY_US, Progress, WorkerOutcome, join_workers, new_histogram, phase_report, record_us,
    spawn_sampler,
};
use super::report::PhaseReport;
use super::workload::{batch_len, check_answer, make_record, parse_stamp, value_bytes};

/// Long-poll wait of the end-to-end readers (they also stop when every record arrived).
const E2E_WAIT_MS: u64 = 500;

pub(super) async fn run_phases(
    client: &Client,
    config: &BenchConfig,
) -> anyhow::Result<Vec<PhaseReport>> {
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
pub(super) async fn wait_until_stored(client: &Client, config: &BenchConfig) -> anyhow::Result<()> {
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

//! `wharf bench`: measures the broker with the low-level [`Client`] (one HTTP request per
//! batch, keep-alive connections, no batching producer in between).
//!
//! - this module: [`run`], which creates the topic, runs the phases, deletes the topic and
//!   writes the results (table on stdout, `--json`, `--chart`).
//! - [`args`]: the options ([`BenchArgs`]) and their resolved form ([`args::BenchConfig`]).
//! - [`phases`]: the measured phases (produce, consume, end-to-end) and their order per mode.
//! - [`workload`]: record values of an exact size, batch cuts, the check of a produce answer.
//! - [`measure`]: progress counters, the throughput sampler and progress bar, HDR histograms
//!   of round trips, the sum of the workers' outcomes.
//! - [`report`]: the results ([`BenchReport`]: JSON layout of `--json`) and the table.
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

mod args;
mod chart;
mod measure;
mod phases;
mod report;
mod workload;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use wharf_client::Client;
use wharf_proto::api::CreateTopic;

pub use args::BenchArgs;
use report::{BenchReport, print_table};

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
            schema_validation: None,
        })
        .await
        .with_context(|| format!("creating the bench topic {}", config.topic))?;

    let outcome = phases::run_phases(&client, &config).await;
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

//! The options of `wharf bench`: what clap parses ([`BenchArgs`]) and what the run uses after
//! defaults and checks ([`BenchConfig`]).

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure};
use clap::{Args, ValueEnum};
use serde::Serialize;
use wharf_client::Acks;

use super::workload::STAMP_DIGITS;

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
/// [`wharf_client::Encoding`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// The binary batch encoding, `application/vnd.wharf.batch.v1` (the client's default).
    Binary,
    /// JSON bodies of HTTP API v1.
    Json,
}

impl From<Encoding> for wharf_client::Encoding {
    fn from(e: Encoding) -> Self {
        match e {
            Encoding::Binary => wharf_client::Encoding::Binary,
            Encoding::Json => wharf_client::Encoding::Json,
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

#[cfg(test)]
mod tests {
    use super::*;

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

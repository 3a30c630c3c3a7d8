//! The `wharf` commands, shaped like Kafka's console tools:
//!
//! ```text
//! wharf [--url URL | WHARF_URL] [--token T | WHARF_TOKEN] topics create NAME --partitions N [--retention-ms MS]
//! wharf topics list | describe NAME | delete NAME
//! wharf produce TOPIC [--key K | --key-separator SEP] [--partition P] [--header NAME=VALUE]...
//! wharf consume TOPIC [--from-beginning | --offset N] [--partition P] [--follow] [--print-key] [--print-offset]
//! wharf bench [--mode produce-consume|produce|consume|end-to-end | --single] [--records N] ... (see `crate::bench`)
//! ```
//!
//! # Decisions
//! - `produce`: every stdin line is one record. A line that parses as JSON is sent as that JSON
//!   value; any other line as a JSON string. Empty lines are skipped. Records go through the
//!   batching [`Producer`]; the command fails (exit 1) if any record failed, naming its line.
//! - `consume` prints one record per line: JSON strings as their text (so plain lines round-trip
//!   through `produce` and `consume` as with Kafka's console tools; a string holding a line break
//!   is printed JSON-quoted to keep one record per line), other JSON values as compact JSON text,
//!   byte values as UTF-8 text, or base64 when they are not UTF-8. `--json` prints every JSON
//!   value exactly as JSON text. `--print-offset` prefixes `Partition:P<TAB>Offset:O<TAB>`,
//!   `--print-key` the key (`null` without one) and a tab.
//! - Without `--from-beginning` or `--offset`, consume starts at the end (Kafka's default).
//!   Without `--follow` it stops at the high watermarks read when it starts; with `--follow` it
//!   long-polls every partition until ctrl-c.
//! - Errors print the broker's message on stderr and exit 1.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Parser, Subcommand};
use tokio::sync::mpsc;
use wharf_proto::api::CreateTopic;

use wharf_client::{
    Acks, Client, ClientConfig, ConsumerRecord, FetchOptions, Producer, ProducerConfig, Record,
    ValueFormat,
};

/// Command-line client for the Wharf broker.
#[derive(Debug, Parser)]
#[command(name = "wharf", version, about)]
pub struct Cli {
    /// Broker URL.
    #[arg(
        long,
        env = "WHARF_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Bearer token, when the broker requires one.
    #[arg(long, env = "WHARF_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Timeout of each request in milliseconds (long polls add their wait).
    #[arg(long, default_value_t = 30_000, global = true)]
    pub timeout_ms: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create, list, describe and delete topics.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Produce stdin lines as records.
    Produce(ProduceArgs),
    /// Print records of a topic.
    Consume(ConsumeArgs),
    /// Measure the broker: throughput and latency of produce and fetch requests.
    Bench(crate::bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create a topic.
    Create {
        name: String,
        /// Number of partitions.
        #[arg(long)]
        partitions: u32,
        /// Delete data older than this (ms); -1 keeps it forever.
        #[arg(long, allow_negative_numbers = true)]
        retention_ms: Option<i64>,
        /// Delete the oldest data while a partition is larger (bytes); -1 means unlimited.
        #[arg(long, allow_negative_numbers = true)]
        retention_bytes: Option<i64>,
        /// Segment file size in bytes.
        #[arg(long)]
        segment_bytes: Option<u64>,
        /// Largest record in bytes.
        #[arg(long)]
        max_record_bytes: Option<u64>,
    },
    /// List topic names.
    List,
    /// Show a topic's configuration and partitions.
    Describe { name: String },
    /// Delete a topic and its data.
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    pub topic: String,
    /// Key of every record.
    #[arg(long, conflicts_with = "key_separator")]
    pub key: Option<String>,
    /// Split each line at the first SEP into key and value (Kafka's `parse.key`).
    #[arg(long, value_name = "SEP")]
    pub key_separator: Option<String>,
    /// Send every record to this partition.
    #[arg(long)]
    pub partition: Option<u32>,
    /// Header of every record, as NAME=VALUE (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,
    /// When the broker answers: all (fsynced), leader, none.
    #[arg(long, default_value_t = Acks::All)]
    pub acks: Acks,
    /// Batch linger time in milliseconds.
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    pub topic: String,
    /// Start at the beginning of the log.
    #[arg(long, conflicts_with = "offset")]
    pub from_beginning: bool,
    /// Start at this offset (in every partition read).
    #[arg(long)]
    pub offset: Option<u64>,
    /// Read only this partition (default: all).
    #[arg(long)]
    pub partition: Option<u32>,
    /// Keep waiting for new records until interrupted.
    #[arg(long)]
    pub follow: bool,
    /// Prefix each record with its key.
    #[arg(long)]
    pub print_key: bool,
    /// Prefix each record with its partition and offset.
    #[arg(long)]
    pub print_offset: bool,
    /// Print JSON values exactly as JSON text (strings quoted).
    #[arg(long)]
    pub json: bool,
    /// Stop after this many records.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// Long-poll wait per request in milliseconds (with --follow).
    #[arg(long, default_value_t = 10_000)]
    pub wait_ms: u64,
}

/// Runs one parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = ClientConfig::new(cli.url);
    config.token = cli.token;
    config.request_timeout_ms = cli.timeout_ms;
    let client = Client::new(config)?;
    match cli.command {
        Command::Topics(cmd) => topics(&client, cmd).await,
        Command::Produce(args) => produce(client, args).await,
        Command::Consume(args) => consume(client, args).await,
        Command::Bench(args) => crate::bench::run(client, args).await,
    }
}

async fn topics(client: &Client, cmd: TopicsCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        TopicsCommand::Create {
            name,
            partitions,
            retention_ms,
            retention_bytes,
            segment_bytes,
            max_record_bytes,
        } => {
            client
                .create_topic(&CreateTopic {
                    name: name.clone(),
                    partitions,
                    retention_ms,
                    retention_bytes,
                    segment_bytes,
                    max_record_bytes,
                    schema_validation: None,
                })
                .await?;
            writeln!(out, "Created topic {name}.")?;
        }
        TopicsCommand::List => {
            let mut names: Vec<String> = client
                .list_topics()
                .await?
                .topics
                .into_iter()
                .map(|t| t.name)
                .collect();
            names.sort();
            for name in names {
                writeln!(out, "{name}")?;
            }
        }
        TopicsCommand::Describe { name } => {
            let t = client.describe_topic(&name).await?;
            writeln!(
                out,
                "Topic: {}\tPartitions: {}\tRetentionMs: {}\tRetentionBytes: {}\tSegmentBytes: {}\tMaxRecordBytes: {}",
                t.name,
                t.partitions,
                t.retention_ms,
                t.retention_bytes,
                t.segment_bytes,
                t.max_record_bytes
            )?;
            for p in &t.partition_states {
                writeln!(
                    out,
                    "\tPartition: {}\tLogStartOffset: {}\tHighWatermark: {}\tSizeBytes: {}",
                    p.partition, p.log_start_offset, p.high_watermark, p.size_bytes
                )?;
            }
        }
        TopicsCommand::Delete { name } => {
            client.delete_topic(&name).await?;
            writeln!(out, "Deleted topic {name}.")?;
        }
    }
    Ok(())
}

/// Turns one stdin line into a record (see the module docs).
pub fn line_to_record(
    line: &str,
    key: Option<&str>,
    key_separator: Option<&str>,
) -> anyhow::Result<Record> {
    let (key, value) = match key_separator {
        Some(sep) => match line.split_once(sep) {
            Some((k, v)) => (Some(k), v),
            None => bail!("no key separator {sep:?} in the line"),
        },
        None => (key, line),
    };
    let mut record = match serde_json::from_str::<serde_json::Value>(value) {
        Ok(json) => Record::json(&json)?,
        Err(_) => Record::json(value)?,
    };
    if let Some(k) = key {
        record = record.with_key(k.to_owned());
    }
    Ok(record)
}

async fn produce(client: Client, args: ProduceArgs) -> anyhow::Result<()> {
    let mut headers = BTreeMap::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once('=')
            .with_context(|| format!("header {h:?} is not NAME=VALUE"))?;
        headers.insert(name.to_owned(), value.to_owned());
    }
    let producer = Producer::new(
        client,
        ProducerConfig {
            linger_ms: args.linger_ms,
            acks: args.acks,
            ..ProducerConfig::default()
        },
    );

    // stdin is blocking: read it on a thread, hand lines over through a bounded channel.
    let (tx, mut rx) = mpsc::channel::<std::io::Result<String>>(1024);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let stop = line.is_err();
            if tx.blocking_send(line).is_err() || stop {
                break;
            }
        }
    });

    let mut deliveries = Vec::new();
    let mut failures = 0usize;
    let mut line_no = 0usize;
    while let Some(line) = rx.recv().await {
        let line = line.context("reading stdin")?;
        line_no += 1;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if line.is_empty() {
            continue;
        }
        let mut record =
            match line_to_record(line, args.key.as_deref(), args.key_separator.as_deref()) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("wharf: line {line_no}: {e:#}");
                    failures += 1;
                    continue;
                }
            };
        record.headers.extend(headers.clone());
        record.partition = args.partition;
        match producer.send(&args.topic, record).await {
            Ok(d) => deliveries.push((line_no, d)),
            Err(e) => {
                eprintln!("wharf: line {line_no}: {e}");
                failures += 1;
            }
        }
        // Reap finished deliveries now and then so memory stays bounded on endless input.
        if deliveries.len() >= 4096 {
            for (line_no, d) in deliveries.drain(..) {
                if let Err(e) = d.await {
                    eprintln!("wharf: line {line_no}: {e}");
                    failures += 1;
                }
            }
        }
    }
    producer.flush().await?;
    for (line_no, d) in deliveries {
        if let Err(e) = d.await {
            eprintln!("wharf: line {line_no}: {e}");
            failures += 1;
        }
    }
    producer.close().await?;
    if failures > 0 {
        bail!("{failures} record(s) were not produced");
    }
    Ok(())
}

/// How one record is printed (see the module docs).
pub fn format_record(
    record: &ConsumerRecord,
    print_key: bool,
    print_offset: bool,
    json: bool,
) -> String {
    let mut line = String::new();
    if print_offset {
        line.push_str(&format!(
            "Partition:{}\tOffset:{}\t",
            record.partition, record.offset
        ));
    }
    if print_key {
        match &record.key {
            None => line.push_str("null"),
            Some(k) => match std::str::from_utf8(k) {
                Ok(text) => line.push_str(text),
                Err(_) => line.push_str(&B64.encode(k)),
            },
        }
        line.push('\t');
    }
    let value = match (record.value_format, std::str::from_utf8(&record.value)) {
        (ValueFormat::Json, Ok(text)) if !json => {
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::String(s)) if !s.contains(['\n', '\r']) => s,
                _ => text.to_owned(),
            }
        }
        (_, Ok(text)) => text.to_owned(),
        (_, Err(_)) => B64.encode(&record.value),
    };
    line.push_str(&value);
    line
}

async fn consume(client: Client, args: ConsumeArgs) -> anyhow::Result<()> {
    let topic = client.describe_topic(&args.topic).await?;
    let partitions: Vec<u32> = match args.partition {
        Some(p) if p >= topic.partitions => {
            bail!(
                "topic {} has no partition {p} (it has {})",
                topic.name,
                topic.partitions
            )
        }
        Some(p) => vec![p],
        None => (0..topic.partitions).collect(),
    };
    let mut starts = BTreeMap::new();
    let mut ends = BTreeMap::new();
    for &p in &partitions {
        let state = topic.partition_states.iter().find(|s| s.partition == p);
        let (log_start, hw) = state.map_or((0, 0), |s| (s.log_start_offset, s.high_watermark));
        let start = if args.from_beginning {
            log_start
        } else if let Some(o) = args.offset {
            o
        } else {
            hw
        };
        starts.insert(p, start);
        ends.insert(p, hw);
    }

    // One reader task per partition; a bounded channel to the printer keeps memory bounded.
    let (tx, mut rx) = mpsc::channel::<anyhow::Result<Vec<ConsumerRecord>>>(16);
    for &p in &partitions {
        let client = client.clone();
        let tx = tx.clone();
        let topic = args.topic.clone();
        let mut offset = starts[&p];
        let end = ends[&p];
        let follow = args.follow;
        let wait_ms = args.wait_ms;
        tokio::spawn(async move {
            loop {
                if !follow && offset >= end {
                    return;
                }
                let options = FetchOptions {
                    wait_ms: if follow { wait_ms } else { 0 },
                    ..FetchOptions::at(offset)
                };
                match client.fetch(&topic, p, options).await {
                    Ok(batch) => {
                        offset = batch.next_offset;
                        let records: Vec<ConsumerRecord> = if follow {
                            batch.records
                        } else {
                            batch
                                .records
                                .into_iter()
                                .filter(|r| r.offset < end)
                                .collect()
                        };
                        if !records.is_empty() && tx.send(Ok(records)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                }
            }
        });
    }
    drop(tx);

    let mut printed = 0u64;
    let mut out = std::io::stdout().lock();
    loop {
        let next = tokio::select! {
            next = rx.recv() => next,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(batch) = next else { break };
        for record in batch? {
            writeln!(
                out,
                "{}",
                format_record(&record, args.print_key, args.print_offset, args.json)
            )?;
            printed += 1;
            if args.max_messages.is_some_and(|max| printed >= max) {
                out.flush()?;
                return Ok(());
            }
        }
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_become_json_values_or_json_strings_with_keys() {
        let r = line_to_record(r#"{"a": 1}"#, Some("k"), None).unwrap();
        assert_eq!(r.value.as_ref(), br#"{"a":1}"#);
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        let r = line_to_record("hello world", None, None).unwrap();
        assert_eq!(r.value.as_ref(), br#""hello world""#);
        let r = line_to_record("user-1:42", None, Some(":")).unwrap();
        assert_eq!(r.key.as_deref(), Some(&b"user-1"[..]));
        assert_eq!(r.value.as_ref(), b"42");
        assert!(line_to_record("no separator", None, Some(":")).is_err());
    }

    fn consumed(value: &[u8], format: ValueFormat, key: Option<&[u8]>) -> ConsumerRecord {
        ConsumerRecord {
            topic: "t".into(),
            partition: 2,
            offset: 7,
            timestamp_ms: 0,
            key: key.map(bytes::Bytes::copy_from_slice),
            value: bytes::Bytes::copy_from_slice(value),
            value_format: format,
            headers: BTreeMap::new(),
            value_url: None,
            epoch: None,
        }
    }

    #[test]
    fn records_print_as_text_json_or_base64() {
        let r = consumed(br#""hi""#, ValueFormat::Json, Some(b"k"));
        assert_eq!(format_record(&r, false, false, false), "hi");
        assert_eq!(format_record(&r, false, false, true), r#""hi""#);
        assert_eq!(
            format_record(&r, true, true, false),
            "Partition:2\tOffset:7\tk\thi"
        );
        let r = consumed(br#""a\nb""#, ValueFormat::Json, None);
        assert_eq!(format_record(&r, true, false, false), "null\t\"a\\nb\"");
        let r = consumed(&[0xff, 0], ValueFormat::Bytes, None);
        assert_eq!(format_record(&r, false, false, false), "/wA=");
        let r = consumed(br#"{"a":1}"#, ValueFormat::Json, None);
        assert_eq!(format_record(&r, false, false, false), r#"{"a":1}"#);
    }
}

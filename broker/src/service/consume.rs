//! Reading, without HTTP: plain fetches of one partition (with long poll), offset lookups, and a
//! group member's poll across its partitions.
//!
//! Both wait on the partitions' high-watermark channels between reads (never a spin) and end
//! early at shutdown. Claim-check pointers are resolved here when the reader asks for URLs.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::claim::{ClaimError, Resolved};
use crate::group::{Advance, MemberError, OffsetReset, Position};
use crate::metrics::TopicLabels;
use crate::service::backend::PartitionLog;
use crate::service::groups::GroupError;
use crate::state::Broker;
use crate::storage::{ReadBatch, Record, StorageError};

/// Most records one fetch may ask for.
pub const MAX_FETCH_RECORDS: usize = 100_000;
/// Most bytes one fetch may ask for.
pub const MAX_FETCH_BYTES: usize = 64 * 1024 * 1024;

/// A read was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("max_records must be between 1 and {MAX_FETCH_RECORDS}")]
    InvalidMaxRecords,
    #[error("max_bytes must be between 1 and {MAX_FETCH_BYTES}")]
    InvalidMaxBytes,
    #[error("wait_ms must be at most {max_wait_ms}")]
    InvalidWaitMs { max_wait_ms: u64 },
    #[error("min_bytes must be between 1 and max_bytes")]
    InvalidMinBytes,
    #[error("resolve must be `url`, got {got:?}")]
    InvalidResolve { got: String },
    #[error("`at` must be earliest, latest or a timestamp in ms, got {got:?}")]
    InvalidAt { got: String },
    #[error("unknown topic {topic}")]
    UnknownTopic { topic: String },
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition { topic: String, partition: u32 },
    #[error(transparent)]
    Member(#[from] MemberError),
    /// The group backend failed (a member error arrives as [`ConsumeError::Member`]).
    #[error(transparent)]
    Group(Box<GroupError>),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Claim(#[from] ClaimError),
}

impl From<GroupError> for ConsumeError {
    fn from(e: GroupError) -> Self {
        match e {
            GroupError::Member(m) => Self::Member(m),
            other => Self::Group(Box::new(other)),
        }
    }
}

/// Checked read budgets.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max_records: usize,
    pub max_bytes: usize,
    pub wait: Duration,
    pub min_bytes: usize,
}

impl Budget {
    /// Validates the budgets of a fetch or poll request (`None`: the default).
    pub fn new(
        max_records: Option<usize>,
        max_bytes: Option<usize>,
        wait_ms: Option<u64>,
        min_bytes: Option<usize>,
        max_wait_ms: u64,
    ) -> Result<Self, ConsumeError> {
        let max_records = max_records.unwrap_or(500);
        if max_records == 0 || max_records > MAX_FETCH_RECORDS {
            return Err(ConsumeError::InvalidMaxRecords);
        }
        let max_bytes = max_bytes.unwrap_or(1024 * 1024);
        if max_bytes == 0 || max_bytes > MAX_FETCH_BYTES {
            return Err(ConsumeError::InvalidMaxBytes);
        }
        let wait_ms = wait_ms.unwrap_or(0);
        if wait_ms > max_wait_ms {
            return Err(ConsumeError::InvalidWaitMs { max_wait_ms });
        }
        let min_bytes = min_bytes.unwrap_or(1);
        if min_bytes == 0 || min_bytes > max_bytes {
            return Err(ConsumeError::InvalidMinBytes);
        }
        Ok(Self {
            max_records,
            max_bytes,
            wait: Duration::from_millis(wait_ms),
            min_bytes,
        })
    }
}

/// What a reader wants for claim-check pointer records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// The pointer records as stored.
    Pointers,
    /// A presigned GET URL per pointer (the value itself where the store cannot presign).
    Urls,
}

impl Resolve {
    /// Parses the `resolve` parameter (`url`, or absent).
    pub fn parse(value: Option<&str>) -> Result<Self, ConsumeError> {
        match value {
            None => Ok(Self::Pointers),
            Some("url") => Ok(Self::Urls),
            Some(other) => Err(ConsumeError::InvalidResolve {
                got: other.to_owned(),
            }),
        }
    }
}

/// Records read from one partition, with the value URL of each pointer record when asked for
/// (aligned with `batch.records`; empty otherwise).
#[derive(Debug)]
pub struct Fetched {
    pub batch: ReadBatch,
    pub value_urls: Vec<Option<String>>,
}

/// Where [`offset_at`] looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetQuery {
    Earliest,
    Latest,
    /// The first offset at or after this time.
    Timestamp(i64),
}

impl OffsetQuery {
    /// Parses `earliest`, `latest` or a non-negative timestamp in ms.
    pub fn parse(at: &str) -> Result<Self, ConsumeError> {
        match at {
            "earliest" => Ok(Self::Earliest),
            "latest" => Ok(Self::Latest),
            other => match other.parse::<i64>() {
                Ok(ts) if ts >= 0 => Ok(Self::Timestamp(ts)),
                _ => Err(ConsumeError::InvalidAt {
                    got: other.to_owned(),
                }),
            },
        }
    }
}

/// The partition `partition` of `topic`.
pub fn find_partition(
    broker: &Broker,
    topic: &str,
    partition: u32,
) -> Result<Arc<dyn PartitionLog>, ConsumeError> {
    let t = broker
        .topics
        .get(topic)
        .ok_or_else(|| ConsumeError::UnknownTopic {
            topic: topic.to_owned(),
        })?;
    t.partition(partition)
        .ok_or_else(|| ConsumeError::UnknownPartition {
            topic: topic.to_owned(),
            partition,
        })
}

/// Reads one partition from `offset`, long-polling until `min_bytes` are there or the wait
/// ends, and counts what was fetched.
pub async fn fetch(
    broker: &Broker,
    topic: &str,
    partition: u32,
    offset: u64,
    budget: Budget,
    resolve: Resolve,
) -> Result<Fetched, ConsumeError> {
    let p = find_partition(broker, topic, partition)?;
    let mut batch = read_with_wait(broker, p.as_ref(), offset, budget).await?;
    let value_urls = resolve_pointers(broker, &mut batch.records, resolve).await?;
    let labels = TopicLabels {
        topic: topic.to_owned(),
    };
    let m = &broker.metrics;
    m.records_fetched
        .get_or_create(&labels)
        .inc_by(batch.records.len() as u64);
    m.bytes_fetched.get_or_create(&labels).inc_by(batch.bytes);
    Ok(Fetched { batch, value_urls })
}

/// The offset `at` names in one partition (`None`: no record at or after that time).
pub async fn offset_at(
    broker: &Broker,
    topic: &str,
    partition: u32,
    at: OffsetQuery,
) -> Result<(Option<u64>, crate::storage::PartitionOffsets), ConsumeError> {
    let p = find_partition(broker, topic, partition)?;
    let bounds = p.offsets();
    let offset = match at {
        OffsetQuery::Earliest => Some(bounds.log_start_offset),
        OffsetQuery::Latest => Some(bounds.high_watermark),
        OffsetQuery::Timestamp(ts) => p.offset_for_timestamp(ts).await?,
    };
    Ok((offset, p.offsets()))
}

/// Reads from `offset`, long-polling until `min_bytes` are there or the wait ends. Never spins:
/// between reads it sleeps on the partition's high-watermark channel.
async fn read_with_wait(
    broker: &Broker,
    partition: &dyn PartitionLog,
    offset: u64,
    budget: Budget,
) -> Result<ReadBatch, StorageError> {
    let deadline = Instant::now() + budget.wait;
    let mut stopping = broker.stopping.clone();
    loop {
        let batch = partition
            .read(offset, budget.max_records, budget.max_bytes)
            .await?;
        let enough =
            batch.bytes as usize >= budget.min_bytes || batch.records.len() >= budget.max_records;
        if enough || Instant::now() >= deadline || broker.is_stopping() {
            return Ok(batch);
        }
        // Wait for the high watermark to move past what we have seen.
        let seen = batch.high_watermark.max(offset);
        if !partition.wait_beyond(seen, deadline, &mut stopping).await {
            return partition
                .read(offset, budget.max_records, budget.max_bytes)
                .await;
        }
    }
}

/// Applies [`Resolve::Urls`] to the pointer records of a batch: returns the URL per record
/// (aligned with `records`), or replaces a pointer's value inline when the store cannot presign.
async fn resolve_pointers(
    broker: &Broker,
    records: &mut [Record],
    resolve: Resolve,
) -> Result<Vec<Option<String>>, ClaimError> {
    if resolve == Resolve::Pointers {
        return Ok(Vec::new());
    }
    let mut urls = vec![None; records.len()];
    for (i, record) in records.iter_mut().enumerate() {
        if !crate::claim::is_pointer(record) {
            continue;
        }
        match broker.claims.resolve_for_reader(record).await? {
            Resolved::Url(url) => urls[i] = Some(url),
            Resolved::Inline { value, is_json } => {
                record.value = value;
                record.value_is_json = is_json;
                record
                    .headers
                    .retain(|h| h.key != wharf_blob::PAYLOAD_HEADER);
            }
        }
    }
    Ok(urls)
}

/// What one partition gave a poll.
#[derive(Debug)]
pub struct PolledPartition {
    pub partition: u32,
    pub epoch: u64,
    /// Where the member continues (what it commits once it handled `records`).
    pub position: u64,
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub records: Vec<Record>,
    /// Aligned with `records` when URLs were asked for; empty otherwise.
    pub value_urls: Vec<Option<String>>,
}

/// A member's poll: records from every partition it owns.
#[derive(Debug)]
pub struct Polled {
    pub topic: String,
    pub lease_expires_at_ms: u64,
    pub partitions: Vec<PolledPartition>,
}

/// Polls for `member` of `group`: renews its lease, reads every partition it owns from its
/// position (the committed offset at first, else its `auto_offset_reset`), `budget` in total,
/// long-polling across all of them, and records where it got to.
pub async fn poll(
    broker: &Broker,
    group: &str,
    member: &str,
    budget: Budget,
    resolve: Resolve,
) -> Result<Polled, ConsumeError> {
    let partitions = broker.group_partitions(group).await?;
    let plan = broker
        .groups
        .poll_positions(group, member, partitions)
        .await?;
    let topic = broker
        .topics
        .get(&plan.topic)
        .ok_or_else(|| ConsumeError::UnknownTopic {
            topic: plan.topic.clone(),
        })?;

    // Resolve each partition's start: committed/position, else the reset policy; an offset that
    // retention removed (or that is beyond the end) is clamped into the log, as Kafka's
    // auto.offset.reset would.
    let mut cursors: Vec<PolledPartition> = Vec::with_capacity(plan.partitions.len());
    for pos in &plan.partitions {
        let Some(p) = topic.partition(pos.partition) else {
            continue;
        };
        let bounds = p.offsets();
        let start = match pos.position {
            Position::Offset(o) => o.clamp(bounds.log_start_offset, bounds.high_watermark),
            Position::Reset(OffsetReset::Earliest) => bounds.log_start_offset,
            Position::Reset(OffsetReset::Latest) => bounds.high_watermark,
        };
        cursors.push(PolledPartition {
            partition: pos.partition,
            epoch: pos.epoch,
            position: start,
            high_watermark: bounds.high_watermark,
            log_start_offset: bounds.log_start_offset,
            records: Vec::new(),
            value_urls: Vec::new(),
        });
    }

    let deadline = Instant::now() + budget.wait;
    let mut appends = topic.subscribe_appends();
    let mut stopping = broker.stopping.clone();
    // Rotate the starting partition so a busy partition cannot starve the others.
    let rotate = (crate::service::groups::clock() as usize) % cursors.len().max(1);
    loop {
        appends.borrow_and_update();
        let (mut records_left, mut bytes_left) = (budget.max_records, budget.max_bytes);
        let count = cursors.len();
        for i in 0..count {
            if records_left == 0 || bytes_left == 0 {
                break;
            }
            let c = &mut cursors[(i + rotate) % count];
            let Some(p) = topic.partition(c.partition) else {
                continue;
            };
            let batch = match p.read(c.position, records_left, bytes_left).await {
                Ok(b) => b,
                Err(StorageError::OffsetOutOfRange {
                    log_start,
                    high_watermark,
                    ..
                }) => {
                    c.position = c.position.clamp(log_start, high_watermark);
                    p.read(c.position, records_left, bytes_left).await?
                }
                Err(e) => return Err(e.into()),
            };
            records_left -= batch.records.len().min(records_left);
            bytes_left = bytes_left.saturating_sub(batch.bytes as usize);
            c.position = batch.next_offset;
            c.high_watermark = batch.high_watermark;
            c.log_start_offset = batch.log_start_offset;
            c.records.extend(batch.records);
        }
        let got = cursors.iter().any(|c| !c.records.is_empty());
        if got || Instant::now() >= deadline || broker.is_stopping() {
            break;
        }
        if cursors.is_empty() {
            // Nothing assigned (more members than partitions): wait out the poll rather than
            // answer at once, so an idle member does not spin; it gets partitions at a later
            // heartbeat or poll.
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => {},
                () = crate::partition::until_true(&mut stopping) => {},
            }
            break;
        }
        // Sleep until any partition of the topic is appended to, the wait ends, or shutdown.
        let woke = tokio::select! {
            changed = appends.changed() => changed.is_ok(),
            () = tokio::time::sleep_until(deadline) => false,
            () = crate::partition::until_true(&mut stopping) => false,
        };
        // One last read happens on the next turn only if time remains; otherwise stop.
        if !woke && Instant::now() >= deadline {
            break;
        }
    }

    let advances: Vec<Advance> = cursors
        .iter()
        .map(|c| Advance {
            partition: c.partition,
            epoch: c.epoch,
            next_offset: c.position,
        })
        .collect();
    broker.groups.advance(group, member, &advances).await?;
    for c in &mut cursors {
        c.value_urls = resolve_pointers(broker, &mut c.records, resolve).await?;
    }
    Ok(Polled {
        topic: plan.topic,
        lease_expires_at_ms: plan.lease_expires_at_ms,
        partitions: cursors,
    })
}

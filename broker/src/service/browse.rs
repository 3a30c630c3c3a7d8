//! Browsing a topic's records for people, without HTTP: a page of records from one partition or
//! all of them (from an offset, a time or the latest N, paged by a per-partition cursor), and a
//! search over keys, headers and values that stops at a scan budget (records and time).
//!
//! Reads go through the same [`PartitionLog::read`] as fetches (sparse offset index, whole
//! records), so a page costs the same wherever it sits in a long log. Browsing does not count as
//! consumption: the fetch metrics are left alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::service::backend::PartitionLog;
use crate::service::consume::ConsumeError;
use crate::state::Broker;
use crate::storage::Record;
use crate::topic::Topic;

/// Most records one page may hold.
pub const MAX_PAGE_RECORDS: usize = 500;
/// Records read per storage call while searching.
const SCAN_CHUNK_RECORDS: usize = 1000;
/// Bytes read per storage call (a chunk holds at least one record whatever its size).
const READ_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// Where a browse starts in each partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Earliest,
    /// This offset (clamped to each partition's bounds).
    Offset(u64),
    /// The first record at or after this time (ms since the epoch).
    Timestamp(i64),
    /// The last N records of each partition.
    Latest(u64),
}

/// The next offset to read per partition: the page cursor, written `p:offset,p:offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor(pub Vec<(u32, u64)>);

/// A cursor that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("cursor must be `partition:offset` pairs separated by commas, got {got:?}")]
pub struct InvalidCursor {
    pub got: String,
}

impl Cursor {
    /// Parses `p:offset,p:offset`.
    pub fn parse(text: &str) -> Result<Self, InvalidCursor> {
        let invalid = || InvalidCursor {
            got: text.to_owned(),
        };
        let mut out = Vec::new();
        for pair in text.split(',').filter(|s| !s.is_empty()) {
            let (p, o) = pair.split_once(':').ok_or_else(invalid)?;
            out.push((
                p.parse().map_err(|_| invalid())?,
                o.parse().map_err(|_| invalid())?,
            ));
        }
        Ok(Self(out))
    }

    /// The `p:offset,…` form [`Cursor::parse`] reads.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|(p, o)| format!("{p}:{o}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// One record with the partition it came from.
#[derive(Debug, Clone)]
pub struct Located {
    pub partition: u32,
    pub record: Record,
}

/// A page of records, oldest first, and the cursor of the next page.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Located>,
    pub next: Cursor,
    /// Whether any partition had records past this page when it was read.
    pub more: bool,
}

/// The partitions a browse covers: one, or all (`None`).
fn partitions_of(
    topic: &Topic,
    partition: Option<u32>,
) -> Result<Vec<Arc<dyn PartitionLog>>, ConsumeError> {
    match partition {
        None => Ok(topic.partitions()),
        Some(id) => {
            topic
                .partition(id)
                .map(|p| vec![p])
                .ok_or_else(|| ConsumeError::UnknownPartition {
                    topic: topic.name.clone(),
                    partition: id,
                })
        }
    }
}

fn topic_of(broker: &Broker, name: &str) -> Result<Arc<Topic>, ConsumeError> {
    broker
        .topics
        .get(name)
        .ok_or_else(|| ConsumeError::UnknownTopic {
            topic: name.to_owned(),
        })
}

/// The cursor a browse from `start` begins at.
pub async fn start_cursor(
    broker: &Broker,
    topic: &str,
    partition: Option<u32>,
    start: Start,
) -> Result<Cursor, ConsumeError> {
    let topic = topic_of(broker, topic)?;
    let mut out = Vec::new();
    for p in partitions_of(&topic, partition)? {
        let b = p.offsets();
        let offset = match start {
            Start::Earliest => b.log_start_offset,
            Start::Offset(o) => o.clamp(b.log_start_offset, b.high_watermark),
            Start::Timestamp(ts) => p
                .offset_for_timestamp(ts)
                .await?
                .unwrap_or(b.high_watermark),
            Start::Latest(n) => b.high_watermark.saturating_sub(n).max(b.log_start_offset),
        };
        out.push((p.id(), offset));
    }
    Ok(Cursor(out))
}

/// The offset `cursor` names for partition `p` (its log start when the cursor does not name it),
/// clamped to the partition's bounds: retention may have moved the start since.
fn cursor_offset(cursor: &Cursor, p: &dyn PartitionLog) -> u64 {
    let b = p.offsets();
    let at = cursor
        .0
        .iter()
        .find(|(id, _)| *id == p.id())
        .map_or(b.log_start_offset, |(_, o)| *o);
    at.clamp(b.log_start_offset, b.high_watermark)
}

/// A page of at most `limit` records from `cursor`: every covered partition is read from its
/// cursor offset and the records are merged by timestamp (then partition, then offset).
pub async fn page(
    broker: &Broker,
    topic: &str,
    partition: Option<u32>,
    cursor: &Cursor,
    limit: usize,
) -> Result<Page, ConsumeError> {
    let limit = limit.clamp(1, MAX_PAGE_RECORDS);
    let topic = topic_of(broker, topic)?;
    let parts = partitions_of(&topic, partition)?;
    let mut merged = Vec::new();
    let mut next = Vec::new();
    let mut hws = Vec::new();
    for p in &parts {
        let from = cursor_offset(cursor, p.as_ref());
        next.push((p.id(), from));
        hws.push(p.offsets().high_watermark);
        if from >= p.offsets().high_watermark {
            continue;
        }
        let batch = p.read(from, limit, READ_CHUNK_BYTES).await?;
        merged.extend(batch.records.into_iter().map(|record| Located {
            partition: p.id(),
            record,
        }));
    }
    merged.sort_by_key(|l| (l.record.timestamp_ms, l.partition, l.record.offset));
    merged.truncate(limit);
    for l in &merged {
        if let Some(entry) = next.iter_mut().find(|(id, _)| *id == l.partition) {
            entry.1 = entry.1.max(l.record.offset + 1);
        }
    }
    let more = next.iter().zip(&hws).any(|((_, o), hw)| o < hw);
    Ok(Page {
        records: merged,
        next: Cursor(next),
        more,
    })
}

/// Which parts of a record a search looks in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchIn {
    pub key: bool,
    pub headers: bool,
    pub value: bool,
}

/// Bounds on one search: it stops at whichever comes first.
#[derive(Debug, Clone, Copy)]
pub struct ScanBudget {
    pub max_records: u64,
    pub max_time: Duration,
    pub max_matches: usize,
}

/// What a search found and what it cost.
#[derive(Debug)]
pub struct SearchOutcome {
    pub matches: Vec<Located>,
    pub scanned: u64,
    pub elapsed: Duration,
    /// Where to resume: the first offset not scanned, per partition.
    pub next: Cursor,
    /// Whether the search stopped at its budget (records, time or matches) before the end.
    pub stopped_at_budget: bool,
}

/// Case-insensitive (ASCII) substring test; an empty needle matches nothing.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack.len() >= needle.len()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Whether `record` holds `needle` where `within` says.
pub fn record_matches(record: &Record, needle: &[u8], within: SearchIn) -> bool {
    (within.key && record.key.as_ref().is_some_and(|k| contains(k, needle)))
        || (within.headers
            && record
                .headers
                .iter()
                .any(|h| contains(h.key.as_bytes(), needle) || contains(&h.value, needle)))
        || (within.value && contains(&record.value, needle))
}

/// Scans from `cursor`, partition after partition, for records holding `needle`, until the end
/// of every partition or the budget.
pub async fn search(
    broker: &Broker,
    topic: &str,
    partition: Option<u32>,
    cursor: &Cursor,
    needle: &str,
    within: SearchIn,
    budget: ScanBudget,
) -> Result<SearchOutcome, ConsumeError> {
    let started = Instant::now();
    let topic = topic_of(broker, topic)?;
    let parts = partitions_of(&topic, partition)?;
    let needle = needle.as_bytes();
    let mut matches = Vec::new();
    let mut scanned = 0u64;
    let mut next: Vec<(u32, u64)> = parts
        .iter()
        .map(|p| (p.id(), cursor_offset(cursor, p.as_ref())))
        .collect();
    let mut stopped = false;
    'parts: for (i, p) in parts.iter().enumerate() {
        let hw = p.offsets().high_watermark;
        while next[i].1 < hw {
            if scanned >= budget.max_records
                || started.elapsed() >= budget.max_time
                || matches.len() >= budget.max_matches
            {
                stopped = true;
                break 'parts;
            }
            let room = usize::try_from(budget.max_records - scanned).unwrap_or(usize::MAX);
            let batch = p
                .read(next[i].1, SCAN_CHUNK_RECORDS.min(room), READ_CHUNK_BYTES)
                .await?;
            if batch.records.is_empty() {
                break;
            }
            for record in batch.records {
                scanned += 1;
                next[i].1 = record.offset + 1;
                if record_matches(&record, needle, within) {
                    matches.push(Located {
                        partition: p.id(),
                        record,
                    });
                    if matches.len() >= budget.max_matches {
                        break;
                    }
                }
            }
        }
    }
    debug_assert!(scanned <= budget.max_records);
    Ok(SearchOutcome {
        matches,
        scanned,
        elapsed: started.elapsed(),
        next: Cursor(next),
        stopped_at_budget: stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Bytes, Header};

    fn record(key: &str, header: (&str, &str), value: &str) -> Record {
        Record {
            offset: 0,
            timestamp_ms: 0,
            key: Some(Bytes::copy_from_slice(key.as_bytes())),
            value: Bytes::copy_from_slice(value.as_bytes()),
            value_is_json: false,
            headers: vec![Header {
                key: header.0.to_owned(),
                value: Bytes::copy_from_slice(header.1.as_bytes()),
            }],
        }
    }

    #[test]
    fn cursor_round_trips_and_refuses_junk() {
        let c = Cursor::parse("0:10,3:7").unwrap();
        assert_eq!(c.0, vec![(0, 10), (3, 7)]);
        assert_eq!(c.render(), "0:10,3:7");
        assert!(Cursor::parse("0-10").is_err());
        assert!(Cursor::parse("x:1").is_err());
        assert_eq!(Cursor::parse("").unwrap().0, vec![]);
    }

    #[test]
    fn search_looks_only_where_asked_and_ignores_ascii_case() {
        let r = record("order-42", ("trace-id", "ABC"), r#"{"sku":"A-1"}"#);
        let all = SearchIn {
            key: true,
            headers: true,
            value: true,
        };
        assert!(record_matches(&r, b"ORDER", all));
        assert!(record_matches(&r, b"abc", all));
        assert!(record_matches(&r, b"a-1", all));
        let value_only = SearchIn {
            key: false,
            headers: false,
            value: true,
        };
        assert!(!record_matches(&r, b"order", value_only));
        assert!(!record_matches(&r, b"abc", value_only));
        assert!(!record_matches(&r, b"", all));
    }
}

//! Model-based property test: random sequences of append / read / roll / retention / sync /
//! close-reopen / crash against an in-memory model of the log.
//!
//! A crash drops the `Log` without syncing and then cuts the active segment at a random byte at
//! or after the last durably acknowledged batch (optionally adding garbage and damaging the
//! active index), which is what a power loss can do to unsynced data. After reopening, every
//! append acknowledged under `Always` / `GroupCommit` (or followed by `sync`) must be intact and
//! nothing may be duplicated: the log must be exactly a prefix of the model that contains all
//! durable records.
//!
//! Half the cases open every log (the real one and the placeholder swapped in while it is closed
//! or crashed) through one shared handle cache of 3 files, so sealed segments are opened,
//! evicted and reopened all the time and the cache is shared between logs as in the broker; the
//! cache must never hold more than 3 handles.
//!
//! Cases: `PROPTEST_CASES` (default 48).

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use wharf_log::{
    Bytes, FileCache, FsyncPolicy, Header, Log, LogConfig, NewRecord, OpenError, OpenOutcome,
    ReadError, Record,
};

/// Capacity of the shared handle cache in the cases that use one.
const SMALL_CACHE: usize = 3;

/// Opens a log with the shared cache, if the case has one.
fn open(
    dir: &Path,
    cfg: &LogConfig,
    cache: &Option<Arc<FileCache>>,
) -> Result<(Log, OpenOutcome), OpenError> {
    match cache {
        Some(c) => Log::open_with_cache(dir, cfg.clone(), c.clone()),
        None => Log::open(dir, cfg.clone()),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: Vec<NewRecord>,
        buffered: bool,
    },
    Read {
        offset_frac: f64,
        past_end: bool,
        max_records: usize,
        max_bytes: usize,
    },
    Roll,
    Sync,
    DeleteBefore {
        frac: f64,
    },
    RetainBytes {
        limit: u64,
    },
    Lookup {
        ts: i64,
    },
    Reopen,
    Crash {
        cut_frac: f64,
        garbage: Vec<u8>,
        index_cut_frac: Option<f64>,
    },
}

fn new_record() -> impl Strategy<Value = NewRecord> {
    (
        0i64..2_000,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)),
        proptest::collection::vec(any::<u8>(), 0..80),
        proptest::collection::vec(
            ("[a-z]{1,5}", proptest::collection::vec(any::<u8>(), 0..8)),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(ts, key, value, headers, json)| NewRecord {
            timestamp_ms: ts,
            key: key.map(Bytes::from),
            value: Bytes::from(value),
            headers: headers
                .into_iter()
                .map(|(k, v)| Header {
                    key: k,
                    value: Bytes::from(v),
                })
                .collect(),
            value_is_json: json,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (proptest::collection::vec(new_record(), 1..6), any::<bool>())
            .prop_map(|(records, buffered)| Op::Append { records, buffered }),
        4 => (0.0..1.0f64, prop::bool::weighted(0.1), 1usize..12, 0usize..400).prop_map(
            |(offset_frac, past_end, max_records, max_bytes)| Op::Read {
                offset_frac,
                past_end,
                max_records,
                max_bytes
            }
        ),
        1 => Just(Op::Roll),
        1 => Just(Op::Sync),
        1 => (0.0..1.0f64).prop_map(|frac| Op::DeleteBefore { frac }),
        1 => (0u64..6_000).prop_map(|limit| Op::RetainBytes { limit }),
        2 => (-10i64..2_100).prop_map(|ts| Op::Lookup { ts }),
        1 => Just(Op::Reopen),
        2 => (
            0.0..1.0f64,
            prop_oneof![3 => Just(Vec::new()), 1 => proptest::collection::vec(any::<u8>(), 1..60)],
            proptest::option::of(0.0..1.0f64)
        )
            .prop_map(|(cut_frac, garbage, index_cut_frac)| Op::Crash {
                cut_frac,
                garbage,
                index_cut_frac
            }),
    ]
}

fn policy() -> impl Strategy<Value = FsyncPolicy> {
    prop_oneof![
        Just(FsyncPolicy::Never),
        Just(FsyncPolicy::Always),
        Just(FsyncPolicy::GroupCommit)
    ]
}

struct Model {
    /// Records from `log_start` on; `records[i].offset == log_start + i`.
    records: Vec<Record>,
    log_start: u64,
    /// Every offset below this is durably acknowledged.
    durable: u64,
    /// End offset of each appended batch → (segment base, end byte in that segment).
    batch_ends: HashMap<u64, (u64, u64)>,
}

impl Model {
    fn hw(&self) -> u64 {
        self.log_start + self.records.len() as u64
    }
}

fn stored(offset: u64, r: &NewRecord) -> Record {
    Record {
        offset,
        timestamp_ms: r.timestamp_ms,
        key: r.key.clone(),
        value: r.value.clone(),
        headers: r.headers.clone(),
        value_is_json: r.value_is_json,
    }
}

fn read_all(log: &Log) -> Vec<Record> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.high_watermark() {
        let r = log.read(next, 1000, 1 << 20).unwrap();
        next = r.next_offset;
        out.extend(r.records);
    }
    out
}

fn check_state(log: &Log, m: &Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(log.high_watermark(), m.hw());
    prop_assert_eq!(log.log_start_offset(), m.log_start);
    prop_assert_eq!(&read_all(log), &m.records);
    let segs = log.segments();
    prop_assert_eq!(segs[0].base_offset, m.log_start);
    for w in segs.windows(2) {
        prop_assert_eq!(w[0].next_offset, w[1].base_offset);
        prop_assert!(
            w[0].sealed && w[0].size_bytes > 0,
            "sealed segments are never empty"
        );
    }
    Ok(())
}

fn cut_file(path: &Path, len: u64, garbage: &[u8]) {
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len).unwrap();
    if !garbage.is_empty() {
        use std::os::unix::fs::FileExt;
        f.write_all_at(garbage, len).unwrap();
    }
}

fn run(cfg: LogConfig, ops: Vec<Op>, cache: Option<Arc<FileCache>>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    // Holds the placeholder log swapped in while the real one is closed or crashed.
    let spare = tempfile::tempdir().unwrap();
    let (mut log, _) = open(dir.path(), &cfg, &cache).unwrap();
    let mut m = Model {
        records: Vec::new(),
        log_start: 0,
        durable: 0,
        batch_ends: HashMap::new(),
    };
    for op in ops {
        match op {
            Op::Append { records, buffered } => {
                let res = if buffered {
                    log.append_buffered(&records)
                } else {
                    log.append(&records)
                };
                let out = match res {
                    Ok(o) => o,
                    Err(wharf_log::AppendError::BatchTooLarge { batch_bytes, max }) => {
                        prop_assert!(batch_bytes > max);
                        continue;
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("append: {e}"))),
                };
                prop_assert_eq!(out.base_offset, m.hw());
                prop_assert_eq!(out.last_offset, m.hw() + records.len() as u64 - 1);
                if out.rolled {
                    // Sealing synced the old segment.
                    m.durable = m.durable.max(out.base_offset);
                }
                let durable_policy = cfg.fsync != FsyncPolicy::Never;
                prop_assert_eq!(out.synced, durable_policy && !buffered);
                if out.synced {
                    m.durable = out.last_offset + 1;
                }
                for (i, r) in records.iter().enumerate() {
                    m.records.push(stored(out.base_offset + i as u64, r));
                }
                let active = log.segments().pop().unwrap();
                m.batch_ends
                    .insert(out.last_offset + 1, (active.base_offset, active.size_bytes));
            }
            Op::Read {
                offset_frac,
                past_end,
                max_records,
                max_bytes,
            } => {
                let span = m.hw() - m.log_start;
                let offset = if past_end {
                    m.hw() + 1 + (offset_frac * 3.0) as u64
                } else {
                    m.log_start + (offset_frac * (span + 1) as f64) as u64
                };
                match log.read(offset, max_records, max_bytes) {
                    Ok(r) => {
                        prop_assert!(offset >= m.log_start && offset <= m.hw());
                        let from = (offset - m.log_start) as usize;
                        let expect = &m.records[from..];
                        prop_assert!(r.records.len() <= max_records);
                        prop_assert_eq!(&r.records[..], &expect[..r.records.len()]);
                        if !expect.is_empty() {
                            prop_assert!(!r.records.is_empty(), "at least one record");
                        }
                        if r.records.len() > 1 {
                            prop_assert!(r.bytes <= max_bytes as u64);
                        }
                        prop_assert_eq!(r.next_offset, offset + r.records.len() as u64);
                        prop_assert_eq!(r.high_watermark, m.hw());
                    }
                    Err(ReadError::OffsetOutOfRange {
                        requested,
                        log_start,
                        high_watermark,
                    }) => {
                        prop_assert!(offset < m.log_start || offset > m.hw());
                        prop_assert_eq!(
                            (requested, log_start, high_watermark),
                            (offset, m.log_start, m.hw())
                        );
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("read: {e}"))),
                }
            }
            Op::Roll => {
                let had_data = log.segments().last().unwrap().size_bytes > 0;
                prop_assert_eq!(log.roll().unwrap(), had_data);
                m.durable = m.hw();
            }
            Op::Sync => {
                log.sync().unwrap();
                m.durable = m.hw();
            }
            Op::DeleteBefore { frac } => {
                let target = m.log_start + (frac * (m.hw() - m.log_start + 1) as f64) as u64;
                let out = log.delete_segments_before(target).unwrap();
                for d in &out.deleted {
                    prop_assert!(d.next_offset <= target && d.sealed);
                    prop_assert!(!d.path.exists());
                }
                prop_assert!(out.log_start_offset <= target.max(m.log_start));
                let drop_n = (out.log_start_offset - m.log_start) as usize;
                m.records.drain(..drop_n);
                m.log_start = out.log_start_offset;
            }
            Op::RetainBytes { limit } => {
                log.set_retention(None, Some(limit));
                let out = log.apply_retention(0).unwrap();
                let segs = log.segments();
                prop_assert!(log.size_bytes() <= limit || segs.len() == 1);
                if let Some(last) = out.deleted.last() {
                    prop_assert!(
                        log.size_bytes() + last.size_bytes > limit,
                        "deleted no more than needed"
                    );
                }
                let drop_n = (out.log_start_offset - m.log_start) as usize;
                m.records.drain(..drop_n);
                m.log_start = out.log_start_offset;
                log.set_retention(None, None);
            }
            Op::Lookup { ts } => {
                let want = m
                    .records
                    .iter()
                    .find(|r| r.timestamp_ms >= ts)
                    .map(|r| r.offset);
                prop_assert_eq!(log.offset_for_timestamp(ts).unwrap(), want);
            }
            Op::Reopen => {
                let old = std::mem::replace(&mut log, open(spare.path(), &cfg, &cache).unwrap().0);
                old.close().unwrap();
                let (l, out) = open(dir.path(), &cfg, &cache).unwrap();
                prop_assert!(
                    out.truncated.is_none(),
                    "clean close leaves nothing to truncate"
                );
                prop_assert!(
                    out.rebuilt_indexes.is_empty(),
                    "clean close leaves valid indexes: {:?}",
                    out.rebuilt_indexes
                );
                log = l;
                m.durable = m.hw();
            }
            Op::Crash {
                cut_frac,
                garbage,
                index_cut_frac,
            } => {
                let active = log.segments().pop().unwrap();
                let placeholder = open(spare.path(), &cfg, &cache).unwrap().0;
                drop(std::mem::replace(&mut log, placeholder)); // no sync
                let durable_pos = match m.batch_ends.get(&m.durable) {
                    Some(&(base, end))
                        if base == active.base_offset && m.durable > active.base_offset =>
                    {
                        end
                    }
                    _ => 0,
                };
                prop_assert!(durable_pos <= active.size_bytes);
                let cut =
                    durable_pos + ((active.size_bytes - durable_pos) as f64 * cut_frac) as u64;
                cut_file(&active.path, cut, &garbage);
                if let Some(f) = index_cut_frac {
                    let idx = active.path.with_extension("index");
                    let len = std::fs::metadata(&idx).unwrap().len();
                    cut_file(&idx, (len as f64 * f) as u64, &[]);
                }
                let (l, out) = open(dir.path(), &cfg, &cache).unwrap();
                log = l;
                let hw = out.high_watermark;
                prop_assert!(
                    hw >= m.durable,
                    "durable offset {} lost, hw {}",
                    m.durable,
                    hw
                );
                prop_assert!(hw <= m.hw());
                let on_boundary = cut == 0
                    || m.batch_ends
                        .values()
                        .any(|&(b, e)| b == active.base_offset && e == cut);
                if !garbage.is_empty() || (cut < active.size_bytes && !on_boundary) {
                    prop_assert!(out.truncated.is_some(), "a torn tail is reported");
                }
                m.records.truncate((hw - m.log_start) as usize);
                m.durable = hw;
                m.batch_ends.retain(|&end, _| end <= hw);
            }
        }
        check_state(&log, &m)?;
        if let Some(c) = &cache {
            prop_assert!(c.len() <= SMALL_CACHE, "{} cached handles", c.len());
        }
    }
    log.close().unwrap();
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model_across_appends_reads_retention_and_crashes(
        segment_bytes in 256u64..2048,
        index_interval_bytes in 32u32..512,
        fsync in policy(),
        ops in proptest::collection::vec(op(), 1..60),
        shared_cache in any::<bool>(),
    ) {
        let cfg = LogConfig {
            segment_bytes,
            index_interval_bytes,
            retention_ms: None,
            retention_bytes: None,
            fsync,
        };
        let cache = shared_cache.then(|| Arc::new(FileCache::new(SMALL_CACHE)));
        run(cfg, ops, cache)?;
    }
}

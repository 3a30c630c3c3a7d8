//! Unit tests of the log's core behaviour (integration tests in `broker/tests/` cover crashes,
//! faults and the model-based property test).

use super::*;

fn rec(ts: i64, value: &str) -> NewRecord {
    NewRecord {
        timestamp_ms: ts,
        key: Some(Bytes::from(format!("k{ts}"))),
        value: Bytes::copy_from_slice(value.as_bytes()),
        headers: vec![Header {
            key: "trace".into(),
            value: Bytes::from_static(b"abc"),
        }],
        value_is_json: false,
    }
}

fn small(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 128,
        retention_ms: None,
        retention_bytes: None,
        fsync,
    }
}

#[test]
fn empty_log_starts_at_zero_and_reads_empty_at_high_watermark() {
    let dir = tempfile::tempdir().unwrap();
    let (log, out) = Log::open(dir.path(), LogConfig::default()).unwrap();
    assert_eq!(
        (out.log_start_offset, out.high_watermark, out.segments),
        (0, 0, 1)
    );
    assert!(dir.path().join("00000000000000000000.log").exists());
    let r = log.read(0, 10, 1000).unwrap();
    assert!(r.records.is_empty());
    assert_eq!(r.next_offset, 0);
    assert!(matches!(
        log.read(1, 10, 1000),
        Err(ReadError::OffsetOutOfRange {
            requested: 1,
            log_start: 0,
            high_watermark: 0
        })
    ));
    assert!(matches!(log.append(&[]), Err(AppendError::EmptyBatch)));
}

#[test]
fn appends_roll_segments_and_reads_cross_them() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), small(FsyncPolicy::Always)).unwrap();
    let mut rolled = 0;
    for i in 0..100 {
        let out = log
            .append(&[rec(i, &format!("value-{i}")), rec(i, "second")])
            .unwrap();
        assert_eq!(out.base_offset, 2 * i as u64);
        assert_eq!(out.last_offset, 2 * i as u64 + 1);
        assert!(out.synced);
        rolled += usize::from(out.rolled);
    }
    let segs = log.segments();
    assert!(segs.len() > 5, "{segs:?}");
    assert_eq!(rolled, segs.len() - 1);
    for w in segs.windows(2) {
        assert_eq!(w[0].next_offset, w[1].base_offset);
        assert!(w[0].sealed && w[0].size_bytes <= 1024);
    }
    let r = log.read(0, 1000, usize::MAX).unwrap();
    assert_eq!(r.records.len(), 200);
    for (i, rec) in r.records.iter().enumerate() {
        assert_eq!(rec.offset, i as u64);
        if i % 2 == 0 {
            assert_eq!(rec.value, format!("value-{}", i / 2));
        }
        assert_eq!(rec.headers[0].key, "trace");
    }
    assert_eq!(r.next_offset, 200);
    // Budgets: records, bytes, and the first record even when it alone is over budget.
    assert_eq!(log.read(17, 5, usize::MAX).unwrap().records.len(), 5);
    let one = log.read(17, 5, 1).unwrap();
    assert_eq!(one.records.len(), 1);
    assert_eq!(one.records[0].offset, 17);
    assert_eq!(one.next_offset, 18);
    let some = log.read(17, 100, 200).unwrap();
    assert!(some.bytes <= 200 && !some.records.is_empty());
    log.close().unwrap();

    let (log, out) = Log::open(dir.path(), small(FsyncPolicy::Always)).unwrap();
    assert_eq!(out.high_watermark, 200);
    assert!(out.truncated.is_none());
    assert!(out.rebuilt_indexes.is_empty(), "{:?}", out.rebuilt_indexes);
    assert_eq!(log.read(0, 1000, usize::MAX).unwrap().records, r.records);
}

#[test]
fn batch_larger_than_a_segment_is_rejected_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), small(FsyncPolicy::Never)).unwrap();
    let big = "x".repeat(2000);
    match log.append(&[rec(1, &big)]) {
        Err(AppendError::BatchTooLarge { batch_bytes, max }) => {
            assert!(batch_bytes > 2000);
            assert_eq!(max, 1024);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log.high_watermark(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn offset_for_timestamp_is_exact_with_non_monotonic_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), small(FsyncPolicy::Never)).unwrap();
    let ts: Vec<i64> = (0..300).map(|i| (i * 7919) % 1000).collect();
    for chunk in ts.chunks(3) {
        let recs: Vec<_> = chunk.iter().map(|&t| rec(t, "v")).collect();
        log.append(&recs).unwrap();
    }
    for t in [-5, 0, 1, 500, 998, 999, 1000] {
        let want = ts.iter().position(|&x| x >= t).map(|p| p as u64);
        assert_eq!(log.offset_for_timestamp(t).unwrap(), want, "t={t}");
    }
}

#[test]
fn retention_by_size_and_age_deletes_whole_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), small(FsyncPolicy::Never)).unwrap();
    for i in 0..100 {
        log.append(&[rec(i * 1000, "0123456789")]).unwrap();
    }
    let segs = log.segments();
    assert!(segs.len() >= 4);
    // Age: everything older than the third segment's newest record + 1.
    let cutoff = segs[2].max_timestamp_ms.unwrap() + 1;
    log.set_retention(Some(10), None);
    let plan = log.retention_plan(cutoff + 10);
    assert_eq!(plan.segments.len(), 3);
    assert_eq!(plan.new_log_start_offset, Some(segs[3].base_offset));
    // Size: keep at most two segments' worth.
    log.set_retention(None, Some(log.size_bytes() - segs[0].size_bytes));
    assert_eq!(log.retention_plan(0).segments.len(), 1);
    log.set_retention(Some(10), None);
    let out = log.apply_retention(cutoff + 10).unwrap();
    assert_eq!(out.deleted.len(), 3);
    assert_eq!(out.log_start_offset, segs[3].base_offset);
    assert!(!segs[0].path.exists());
    match log.read(0, 1, 1) {
        Err(ReadError::OffsetOutOfRange {
            requested: 0,
            log_start,
            high_watermark: 100,
        }) => assert_eq!(log_start, segs[3].base_offset),
        other => panic!("{other:?}"),
    }
    // The active segment is never deleted.
    let out = log.delete_segments_before(u64::MAX).unwrap();
    assert_eq!(log.segments().len(), 1);
    assert_eq!(out.log_start_offset, log.segments()[0].base_offset);
    let start = log.log_start_offset();
    drop(log);
    let (log, out) = Log::open(dir.path(), small(FsyncPolicy::Never)).unwrap();
    assert_eq!(out.log_start_offset, start);
    assert_eq!(log.read(start, 1, 1).unwrap().records[0].offset, start);
}

#[test]
fn group_commit_shares_syncs_between_threads() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small(FsyncPolicy::GroupCommit);
    cfg.segment_bytes = 1 << 20;
    let (log, _) = Log::open(dir.path(), cfg).unwrap();
    let log = Arc::new(log);
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let out = log.append(&[rec(t * 1000 + i, "v")]).unwrap();
                    assert!(out.synced);
                    assert!(log.durable_offset() > out.last_offset);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(log.high_watermark(), 200);
    assert_eq!(log.read(0, 500, usize::MAX).unwrap().records.len(), 200);
}

#[test]
fn invalid_config_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        segment_bytes: 10,
        ..LogConfig::default()
    };
    assert!(matches!(
        Log::open(dir.path(), cfg),
        Err(OpenError::InvalidConfig { .. })
    ));
}

#[test]
fn log_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Log>();
}

#[test]
fn concurrent_appends_reads_and_retention_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = small(FsyncPolicy::Never);
    cfg.segment_bytes = 512;
    let (log, _) = Log::open(dir.path(), cfg).unwrap();
    let log = Arc::new(log);
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..400 {
                    log.append(&[rec(t * 10_000 + i, &format!("w{t}-{i}"))])
                        .unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                let start = log.log_start_offset();
                match log.read(start, 50, usize::MAX) {
                    Ok(r) => {
                        for (i, rec) in r.records.iter().enumerate() {
                            assert_eq!(rec.offset, start + i as u64);
                        }
                        assert!(r.next_offset <= r.high_watermark);
                    }
                    // Retention may move the start between our load and the read.
                    Err(ReadError::OffsetOutOfRange { log_start, .. }) => {
                        assert!(log_start > start)
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        })
    };
    let retention = {
        let (log, done) = (log.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                log.delete_segments_before(log.high_watermark() / 2)
                    .unwrap();
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Release);
    reader.join().unwrap();
    retention.join().unwrap();
    assert_eq!(log.high_watermark(), 800);
    let segs = log.segments();
    assert!(!segs.last().unwrap().sealed);
    let r = log.read(log.log_start_offset(), 1000, usize::MAX).unwrap();
    assert_eq!(r.next_offset, 800);
}

/// Open descriptors of this process (nextest runs every test in a process of its own).
fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// A log of `n` one-batch segments through `cache`.
fn many_segments(dir: &Path, n: u64, cache: &Arc<FileCache>) -> Log {
    let (log, _) = Log::open_with_cache(dir, small(FsyncPolicy::Never), cache.clone()).unwrap();
    for i in 0..n {
        log.append(&[rec(i as i64, &"x".repeat(600))]).unwrap();
    }
    assert_eq!(log.segments().len() as u64, n);
    log
}

fn read_every_record(log: &Log) -> Vec<u64> {
    let mut offsets = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.high_watermark() {
        let r = log.read(next, 7, usize::MAX).unwrap();
        offsets.extend(r.records.iter().map(|r| r.offset));
        next = r.next_offset;
    }
    offsets
}

#[test]
fn sealed_segments_are_opened_through_the_cache_so_descriptors_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(FileCache::new(4));
    let before = open_fds();
    let log = many_segments(dir.path(), 300, &cache);
    // 3 pinned files of the active segment and at most 4 cached handles, not 3 per segment.
    assert!(open_fds() <= before + 3 + 4, "{} fds", open_fds() - before);
    assert_eq!(read_every_record(&log), (0..300).collect::<Vec<_>>());
    assert!(cache.len() <= 4);
    assert!(open_fds() <= before + 3 + 4, "{} fds", open_fds() - before);
    assert_eq!(log.offset_for_timestamp(150).unwrap(), Some(150));
    drop(log);
    let (log, out) =
        Log::open_with_cache(dir.path(), small(FsyncPolicy::Never), cache.clone()).unwrap();
    assert_eq!((out.segments, out.high_watermark), (300, 300));
    assert!(open_fds() <= before + 3 + 4, "reopen keeps the bound");
    assert_eq!(read_every_record(&log).len(), 300);
}

#[test]
fn closing_a_log_and_retention_forget_their_cached_handles() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let cache = Arc::new(FileCache::new(64));
    let log = many_segments(dir.path(), 10, &cache);
    let keep = many_segments(other.path(), 3, &cache);
    read_every_record(&log);
    read_every_record(&keep);
    let cached = cache.len();
    assert!(cached > 4, "sealed reads cached handles: {cached}");
    let out = log.delete_segments_before(5).unwrap();
    assert_eq!(out.deleted.len(), 5);
    assert!(cache.len() < cached, "deleted segments' handles are closed");
    read_every_record(&log);
    drop(log);
    let left = cache.len();
    assert!(left > 0);
    read_every_record(&keep);
    drop(keep);
    assert!(cache.is_empty(), "a dropped log leaves no handle behind");
}

#[test]
fn a_roll_that_cannot_create_its_files_is_rolled_back_and_retried_without_poisoning() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), small(FsyncPolicy::Always)).unwrap();
    log.append(&[rec(0, &"a".repeat(600))]).unwrap();
    // A directory where the next segment's index must go makes creating it fail, as a full disk
    // or a lack of descriptors would (root ignores permissions, so those cannot stand in here).
    let blocker = segment::index_path(dir.path(), 1);
    fs::create_dir(&blocker).unwrap();
    let err = log.append(&[rec(1, &"b".repeat(600))]).unwrap_err();
    assert!(matches!(err, AppendError::Io { .. }), "{err}");
    assert!(
        !segment::log_path(dir.path(), 1).exists(),
        "the half-created segment was removed"
    );
    assert_eq!(log.segments().len(), 1);
    assert_eq!(log.high_watermark(), 1);
    assert_eq!(read_every_record(&log), vec![0]);
    // Still the same failure, not "poisoned": the log was left as it was.
    assert!(matches!(
        log.append(&[rec(1, &"b".repeat(600))]),
        Err(AppendError::Io { .. })
    ));
    // Small appends that fit keep working meanwhile.
    log.append(&[rec(1, "small")]).unwrap();
    fs::remove_dir(&blocker).unwrap();
    let out = log.append(&[rec(2, &"c".repeat(600))]).unwrap();
    assert!(out.rolled);
    assert_eq!(out.base_offset, 2);
    assert_eq!(read_every_record(&log), vec![0, 1, 2]);
    log.close().unwrap();
    let (log, out) = Log::open(dir.path(), small(FsyncPolicy::Always)).unwrap();
    assert!(out.rebuilt_indexes.is_empty(), "{:?}", out.rebuilt_indexes);
    assert!(out.truncated.is_none());
    assert_eq!(read_every_record(&log), vec![0, 1, 2]);
    assert_eq!(log.offset_for_timestamp(1).unwrap(), Some(1));
}

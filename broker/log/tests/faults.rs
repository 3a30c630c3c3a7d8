//! Fault injection on real files: flipped bytes and deleted indexes.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

use wharf_log::{Bytes, FsyncPolicy, Header, Log, LogConfig, NewRecord, OpenError, ReadError};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 2048,
        index_interval_bytes: 256,
        retention_ms: None,
        retention_bytes: None,
        fsync: FsyncPolicy::Always,
    }
}

fn batch(i: u64) -> Vec<NewRecord> {
    (0..3)
        .map(|j| NewRecord {
            timestamp_ms: 1_000 + i as i64,
            key: Some(Bytes::from(format!("key-{i}-{j}"))),
            value: Bytes::from(format!("{{\"batch\":{i},\"record\":{j}}}")),
            headers: vec![Header {
                key: "source".into(),
                value: Bytes::from_static(b"fault-test"),
            }],
            value_is_json: true,
        })
        .collect()
}

/// Writes `batches` batches, closes, returns the segments as they were.
fn fill(dir: &Path, batches: u64) -> Vec<wharf_log::SegmentInfo> {
    let (log, _) = Log::open(dir, config()).unwrap();
    for i in 0..batches {
        log.append(&batch(i)).unwrap();
    }
    let segs = log.segments();
    log.close().unwrap();
    segs
}

fn flip_byte(path: &Path, position: u64) {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, position).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, position).unwrap();
    f.sync_all().unwrap();
}

#[test]
fn flipped_byte_in_active_tail_is_truncated_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = Log::open(dir.path(), config()).unwrap();
    let mut before_last = 0;
    for i in 0..5 {
        before_last = log.segments().last().unwrap().size_bytes;
        log.append(&batch(i)).unwrap();
    }
    let active = log.segments().pop().unwrap();
    assert_eq!(active.base_offset, 0, "test expects a single segment");
    log.close().unwrap();
    flip_byte(&active.path, active.size_bytes - 3);

    let (log, out) = Log::open(dir.path(), config()).unwrap();
    let t = out.truncated.expect("the corrupt tail is reported");
    assert_eq!(t.path, active.path);
    assert_eq!(t.valid_bytes, before_last);
    assert_eq!(t.truncated_bytes, active.size_bytes - before_last);
    assert!(t.reason.contains("crc"), "{}", t.reason);
    assert_eq!(out.high_watermark, 12);
    assert_eq!(std::fs::metadata(&active.path).unwrap().len(), before_last);
    let r = log.read(0, 100, usize::MAX).unwrap();
    assert_eq!(r.records.len(), 12);
    assert_eq!(
        r.records[11].value,
        Bytes::from("{\"batch\":3,\"record\":2}")
    );
    // The log continues at the truncation point.
    assert_eq!(log.append(&batch(9)).unwrap().base_offset, 12);
}

#[test]
fn flipped_byte_in_sealed_segment_is_reported_with_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let segs = fill(dir.path(), 40);
    assert!(segs.len() >= 3, "{segs:?}");
    let sealed = &segs[0];
    assert!(sealed.sealed);
    // Find where the second batch starts by reading its length field.
    let f = std::fs::File::open(&sealed.path).unwrap();
    let mut len = [0u8; 4];
    f.read_exact_at(&mut len, 0).unwrap();
    let second = u64::from(u32::from_le_bytes(len));
    flip_byte(&sealed.path, second + 50);

    // The sealed segment's indexes are valid, so open succeeds; the read that touches the
    // damaged batch reports it.
    let (log, out) = Log::open(dir.path(), config()).unwrap();
    assert!(out.truncated.is_none());
    match log.read(0, 1000, usize::MAX) {
        Err(ReadError::Corruption {
            path,
            position,
            detail,
        }) => {
            assert_eq!(path, sealed.path);
            assert_eq!(position, second);
            assert!(detail.contains("crc"), "{detail}");
        }
        other => panic!("expected corruption, got {other:?}"),
    }
    // Records before the damaged batch are still readable; later segments too.
    assert_eq!(log.read(0, 3, usize::MAX).unwrap().records.len(), 3);
    assert!(
        !log.read(segs[1].base_offset, 10, usize::MAX)
            .unwrap()
            .records
            .is_empty()
    );
    // Nothing was truncated: the file is as long as before.
    assert_eq!(
        std::fs::metadata(&sealed.path).unwrap().len(),
        sealed.size_bytes
    );
}

#[test]
fn corrupt_sealed_segment_without_index_fails_open_with_file_and_position() {
    let dir = tempfile::tempdir().unwrap();
    let segs = fill(dir.path(), 40);
    let sealed = &segs[1];
    flip_byte(&sealed.path, 10);
    std::fs::remove_file(sealed.path.with_extension("index")).unwrap();
    match Log::open(dir.path(), config()) {
        Err(OpenError::Corruption { path, position, .. }) => {
            assert_eq!(path, sealed.path);
            assert_eq!(position, 0);
        }
        other => panic!("expected corruption, got {:?}", other.map(|(_, o)| o)),
    }
    assert_eq!(
        std::fs::metadata(&sealed.path).unwrap().len(),
        sealed.size_bytes
    );
}

#[test]
fn deleted_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let segs = fill(dir.path(), 40);
    let (log, _) = Log::open(dir.path(), config()).unwrap();
    let all = log.read(0, 1000, usize::MAX).unwrap().records;
    let by_ts = log.offset_for_timestamp(1_020).unwrap();
    drop(log);
    let sealed_index = segs[0].path.with_extension("index");
    let sealed_time = segs[1].path.with_extension("timeindex");
    let active_index = segs.last().unwrap().path.with_extension("index");
    for p in [&sealed_index, &sealed_time, &active_index] {
        std::fs::remove_file(p).unwrap();
    }

    let (log, out) = Log::open(dir.path(), config()).unwrap();
    for p in [&sealed_index, &sealed_time, &active_index] {
        assert!(
            out.rebuilt_indexes.contains(p),
            "{p:?} in {:?}",
            out.rebuilt_indexes
        );
        assert!(p.exists());
    }
    assert!(out.truncated.is_none());
    assert_eq!(log.read(0, 1000, usize::MAX).unwrap().records, all);
    assert_eq!(log.offset_for_timestamp(1_020).unwrap(), by_ts);
    assert_eq!(by_ts, Some(60));
    drop(log);
    // The rebuilt files are what the writer would have produced: nothing to rebuild next time.
    let (_, out) = Log::open(dir.path(), config()).unwrap();
    assert!(out.rebuilt_indexes.is_empty(), "{:?}", out.rebuilt_indexes);
}

#[test]
fn garbage_index_of_sealed_segment_is_rebuilt_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let segs = fill(dir.path(), 40);
    let idx = segs[0].path.with_extension("index");
    std::fs::write(&idx, [0xffu8; 21]).unwrap();
    let (log, out) = Log::open(dir.path(), config()).unwrap();
    assert!(out.rebuilt_indexes.contains(&idx));
    assert_eq!(log.read(0, 1000, usize::MAX).unwrap().records.len(), 120);
}

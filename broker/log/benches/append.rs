//! Log throughput: appends of 100-byte records in batches of 1, 100 and 1,000 under each
//! durability policy (one appender, plus group commit with 4 and 16 concurrent appenders), and
//! sequential reads. Reports records/s and bytes/s (on-disk batch bytes).
//!
//! `cargo bench -p wharf-broker --bench log_append` (set `WHARF_BENCH_DIR` to put the log on a
//! particular disk; default: the system temp dir).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wharf_log::{Bytes, FsyncPolicy, Log, LogConfig, NewRecord};

const VALUE_BYTES: usize = 100;

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("WHARF_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(PathBuf::from(d)).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn config(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        segment_bytes: 256 << 20,
        retention_ms: None,
        fsync,
        ..LogConfig::default()
    }
}

fn records(n: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| NewRecord {
            timestamp_ms: 1_732_240_000_000 + i as i64,
            key: None,
            value: Bytes::from(vec![b'x'; VALUE_BYTES]),
            headers: Vec::new(),
            value_is_json: false,
        })
        .collect()
}

/// Keeps the disk footprint bounded: drops sealed segments between measurements.
fn trim(log: &Log) {
    if log.segments().len() > 2 {
        log.delete_segments_before(log.high_watermark()).unwrap();
    }
}

fn append(c: &mut Criterion) {
    for policy in [
        FsyncPolicy::Never,
        FsyncPolicy::Always,
        FsyncPolicy::GroupCommit,
    ] {
        let mut g = c.benchmark_group(format!("append/{policy:?}"));
        g.warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .sample_size(10);
        for batch in [1usize, 100, 1000] {
            let dir = bench_dir();
            let (log, _) = Log::open(dir.path(), config(policy)).unwrap();
            let recs = records(batch);
            let batch_bytes = log.append(&recs).unwrap().batch_bytes;
            g.throughput(Throughput::ElementsAndBytes {
                elements: batch as u64,
                bytes: batch_bytes,
            });
            g.bench_function(BenchmarkId::new("batch", batch), |b| {
                b.iter_custom(|iters| {
                    trim(&log);
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(log.append(&recs).unwrap());
                    }
                    start.elapsed()
                })
            });
        }
        g.finish();
    }

    // Group commit is meant for concurrent producers: N appenders share fdatasyncs.
    let mut g = c.benchmark_group("append_concurrent/GroupCommit");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    for (threads, batch) in [(4u64, 1usize), (4, 100), (4, 1000), (16, 1000)] {
        let dir = bench_dir();
        let (log, _) = Log::open(dir.path(), config(FsyncPolicy::GroupCommit)).unwrap();
        let log = Arc::new(log);
        let recs = records(batch);
        let batch_bytes = log.append(&recs).unwrap().batch_bytes;
        g.throughput(Throughput::ElementsAndBytes {
            elements: batch as u64,
            bytes: batch_bytes,
        });
        let id = BenchmarkId::new(format!("{threads}_threads/batch"), batch);
        g.bench_function(id, |b| {
            b.iter_custom(|iters| {
                trim(&log);
                let start = Instant::now();
                std::thread::scope(|s| {
                    for t in 0..threads {
                        let n = iters / threads + u64::from(t < iters % threads);
                        let (log, recs) = (&log, &recs);
                        s.spawn(move || {
                            for _ in 0..n {
                                black_box(log.append(recs).unwrap());
                            }
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

fn read(c: &mut Criterion) {
    let dir = bench_dir();
    let (log, _) = Log::open(dir.path(), config(FsyncPolicy::Never)).unwrap();
    let recs = records(1000);
    for _ in 0..500 {
        log.append(&recs).unwrap();
    }
    log.sync().unwrap();
    let hw = log.high_watermark();
    let probe = log.read(0, 1000, 1 << 20).unwrap();
    let mut g = c.benchmark_group("read_sequential");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    g.throughput(Throughput::ElementsAndBytes {
        elements: probe.records.len() as u64,
        bytes: probe.bytes,
    });
    let mut offset = 0;
    g.bench_function("1000_records_per_read", |b| {
        b.iter(|| {
            let r = log.read(offset, 1000, 1 << 20).unwrap();
            offset = if r.next_offset >= hw {
                0
            } else {
                r.next_offset
            };
            black_box(r)
        })
    });
    g.finish();
}

/// Sequential reads over 300 sealed 256 KiB segments: more files (900) than a log's default
/// handle cache holds, so reading through them in a cycle opens every segment's files again
/// (the worst case for the cache; with every file kept open it costs nothing).
fn read_sealed(c: &mut Criterion) {
    let dir = bench_dir();
    let cfg = LogConfig {
        segment_bytes: 256 << 10,
        ..config(FsyncPolicy::Never)
    };
    let (log, _) = Log::open(dir.path(), cfg).unwrap();
    let recs = records(100);
    while log.segments().len() < 301 {
        log.append(&recs).unwrap();
    }
    log.sync().unwrap();
    let sealed_end = log.segments()[300].base_offset;
    let probe = log.read(0, 1000, 1 << 20).unwrap();
    let mut g = c.benchmark_group("read_sealed");
    g.warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10);
    g.throughput(Throughput::ElementsAndBytes {
        elements: probe.records.len() as u64,
        bytes: probe.bytes,
    });
    let mut offset = 0;
    g.bench_function("1000_records_per_read", |b| {
        b.iter(|| {
            let r = log.read(offset, 1000, 1 << 20).unwrap();
            offset = if r.next_offset >= sealed_end {
                0
            } else {
                r.next_offset
            };
            black_box(r)
        })
    });
    g.finish();
}

criterion_group!(benches, append, read, read_sealed);
criterion_main!(benches);

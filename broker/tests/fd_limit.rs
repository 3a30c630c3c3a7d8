//! The broker under `ulimit -n 256`: a topic grows to 20,000 segments while the broker keeps
//! appending and serving, is killed with SIGKILL, restarts and serves every acknowledged record,
//! and its open descriptors (`/proc/<pid>/fd`) stay under the limit throughout.
//!
//! The broker runs through a `sh` wrapper that sets the limit and `exec`s the binary, so the
//! limit applies to the broker process itself (same pid). Its data directory is on tmpfs
//! (`/dev/shm`) when there is one: each roll fsyncs three files and the directory, and 20,000 of
//! them on a disk would take minutes instead of seconds.
mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Api;
use serde_json::{Value, json};
use wharf_testkit::Broker;

const FD_LIMIT: usize = 256;
const TOPIC: &str = "many-segments";
const PARTITIONS: u32 = 4;
/// One record per partition per request; each record is big enough that every batch fills a
/// 1024-byte segment, so every request adds one segment to each partition.
const REQUESTS: usize = 5_000;
const PRODUCERS: usize = 4;
const SEGMENTS: usize = REQUESTS * PARTITIONS as usize;
const PADDING: usize = 700;

fn payload(producer: usize, request: usize, partition: u32) -> String {
    let head = format!("p{producer}-r{request}-{partition}-");
    format!("{head}{}", "x".repeat(PADDING - head.len()))
}

/// A data directory on tmpfs when the machine has one (see the module doc).
fn data_dir() -> wharf_testkit::tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = wharf_testkit::tempfile::Builder::new()
            .prefix("wharf-fd-limit-")
            .tempdir_in(shm)
    {
        return dir;
    }
    println!("no writable /dev/shm: running on the default temp dir (slower rolls)");
    wharf_testkit::temp_dir("wharf-fd-limit")
}

/// `sh` wrapper that lowers the descriptor limit (soft and hard) and execs the broker.
fn limited_broker_binary(dir: &Path) -> PathBuf {
    let script = dir.join("broker-ulimit.sh");
    let bin = env!("CARGO_BIN_EXE_wharf-broker");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nulimit -n {FD_LIMIT} || exit 97\nexec '{bin}' \"$@\"\n"),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// The process's soft descriptor limit, from `/proc/<pid>/limits`.
fn soft_fd_limit(pid: u32) -> usize {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("limits has Max open files");
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// Samples the broker's open descriptors every few milliseconds until stopped; returns the
/// largest count seen.
struct FdWatch {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<usize>,
}

impl FdWatch {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut max = 0;
            while !flag.load(Ordering::Relaxed) {
                if let Some(n) = open_fds(pid) {
                    max = max.max(n);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            max
        });
        Self { stop, handle }
    }

    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// Posts `REQUESTS / PRODUCERS` requests of one record per partition; returns what was acked
/// as ((partition, offset), payload).
fn produce(url: String, producer: usize, done: Arc<AtomicUsize>) -> Vec<((u32, u64), String)> {
    let api = Api::new(&url);
    let mut acked = Vec::new();
    for request in (producer..REQUESTS).step_by(PRODUCERS) {
        let records: Vec<Value> = (0..PARTITIONS)
            .map(|p| json!({"partition": p, "value": payload(producer, request, p)}))
            .collect();
        let (status, body) = api.produce(TOPIC, json!(records));
        assert_eq!(status, 200, "request {request}: {body}");
        for (p, result) in body["results"].as_array().unwrap().iter().enumerate() {
            assert_eq!(result["partition"], json!(p));
            acked.push((
                (p as u32, result["offset"].as_u64().unwrap()),
                payload(producer, request, p as u32),
            ));
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    acked
}

/// Fetches from old offsets while producers run (sealed segments opened through the cache).
fn read_old_records(url: String, stop: Arc<AtomicBool>) -> usize {
    let api = Api::new(&url);
    let mut reads = 0;
    let mut high_watermarks = [0u64; PARTITIONS as usize];
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let partition = (i % u64::from(PARTITIONS)) as u32;
        let hw = high_watermarks[partition as usize];
        let offset = if hw == 0 { 0 } else { (i * 7919) % hw };
        let (status, body) =
            api.fetch(TOPIC, partition, &format!("offset={offset}&max_records=20"));
        assert_eq!(status, 200, "{body}");
        high_watermarks[partition as usize] = body["high_watermark"].as_u64().unwrap();
        if hw > 0 {
            assert_eq!(body["records"][0]["offset"], json!(offset));
            reads += 1;
        }
        i += 1;
    }
    reads
}

fn segment_files(dir: &Path) -> usize {
    (0..PARTITIONS)
        .map(|p| {
            std::fs::read_dir(dir.join("topics").join(TOPIC).join(p.to_string()))
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".log")
                })
                .count()
        })
        .sum()
}

#[test]
fn twenty_thousand_segments_under_ulimit_256_keep_appending_survive_sigkill_and_stay_under_the_limit()
 {
    let dir = data_dir();
    let data = dir.path().join("data");
    let bin = limited_broker_binary(dir.path());
    let env = [("WHARF_MAX_OPEN_FILES", "64")];
    let mut broker = Broker::launch(&bin, &data, &env);
    let pid = broker.pid().unwrap();
    assert_eq!(soft_fd_limit(pid), FD_LIMIT, "the wrapper's limit applies");
    let api = Api::new(&broker.url);
    let (status, body) = api.post(
        "/v1/topics",
        &json!({"name": TOPIC, "partitions": PARTITIONS, "segment_bytes": 1024, "max_record_bytes": 1000}),
    );
    assert_eq!(status, 201, "{body}");

    let started = Instant::now();
    let watch = FdWatch::start(pid);
    let done = Arc::new(AtomicUsize::new(0));
    let stop_reader = Arc::new(AtomicBool::new(false));
    let reader = {
        let (url, stop) = (broker.url.clone(), stop_reader.clone());
        std::thread::spawn(move || read_old_records(url, stop))
    };
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (url, done) = (broker.url.clone(), done.clone());
            std::thread::spawn(move || produce(url, p, done))
        })
        .collect();
    let mut acked: HashMap<(u32, u64), String> = HashMap::new();
    for p in producers {
        for (at, payload) in p.join().expect("producer") {
            assert!(
                acked.insert(at, payload).is_none(),
                "offset {at:?} acked twice"
            );
        }
    }
    stop_reader.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("reader");
    let produced_in = started.elapsed();
    let max_while_producing = watch.finish();
    assert_eq!(acked.len(), REQUESTS * PARTITIONS as usize);
    assert_eq!(
        segment_files(&data),
        SEGMENTS,
        "every batch rolled a segment"
    );
    assert!(reads > 0, "the reader got answers while segments grew");

    broker.kill();
    let restarted = Instant::now();
    broker.restart();
    let restart_took = restarted.elapsed();
    let pid = broker.pid().unwrap();
    assert_eq!(soft_fd_limit(pid), FD_LIMIT);
    let watch = FdWatch::start(pid);
    let api = Api::new(&broker.url);
    let mut served = 0;
    for p in 0..PARTITIONS {
        let records = api.fetch_all(TOPIC, p);
        assert_eq!(records.len(), REQUESTS, "partition {p} after restart");
        for r in &records {
            let at = (p, r["offset"].as_u64().unwrap());
            assert_eq!(
                Some(&r["value"]),
                acked.get(&at).map(|v| json!(v)).as_ref(),
                "{at:?}"
            );
            served += 1;
        }
    }
    // Still appending after the restart.
    let (status, body) = api.produce(TOPIC, json!([{"partition": 0, "value": "after"}]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["offset"], json!(REQUESTS));
    let max_after_restart = watch.finish();
    println!(
        "{SEGMENTS} segments in {produced_in:?} ({reads} concurrent reads); restart {restart_took:?}; \
         {served} records served; max open fds {max_while_producing} while producing, \
         {max_after_restart} after the restart (limit {FD_LIMIT}, max_open_files 64)"
    );
    assert!(max_while_producing < FD_LIMIT, "{max_while_producing} fds");
    assert!(max_after_restart < FD_LIMIT, "{max_after_restart} fds");
    assert_eq!(served, SEGMENTS);
}

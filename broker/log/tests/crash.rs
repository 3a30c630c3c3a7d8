//! SIGKILL crash test: a writer child process (this test binary re-invoked with an env var)
//! appends from several threads and prints every acknowledged batch; the parent kills it at a
//! random moment, reopens the log and checks that every acknowledged record is intact, nothing is
//! duplicated and every record that survived is well-formed. Repeated on one directory, so later
//! children also recover what earlier kills left behind.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use wharf_log::{Bytes, FsyncPolicy, Log, LogConfig, NewRecord};

const DIR_ENV: &str = "WHARF_LOG_CRASH_DIR";
const POLICY_ENV: &str = "WHARF_LOG_CRASH_POLICY";
const RUN_ENV: &str = "WHARF_LOG_CRASH_RUN";
const KILLS: usize = 24;

fn config(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        // Small segments so the kills also land during rolls.
        segment_bytes: 16 * 1024,
        index_interval_bytes: 512,
        retention_ms: None,
        retention_bytes: None,
        fsync,
    }
}

/// The value every record with this key must have.
fn value_for(key: &str) -> Bytes {
    let n = key.bytes().map(usize::from).sum::<usize>() % 50;
    Bytes::from(format!("{key}:{}", "v".repeat(n)))
}

/// The writer child. Ignored in normal runs; the crash test runs it with `--ignored`.
#[test]
#[ignore = "child process of sigkill_at_random_points_keeps_every_acknowledged_record"]
fn crash_child_writer() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let policy = match std::env::var(POLICY_ENV).as_deref() {
        Ok("always") => FsyncPolicy::Always,
        _ => FsyncPolicy::GroupCommit,
    };
    let run: u64 = std::env::var(RUN_ENV).unwrap().parse().unwrap();
    let (log, _) = Log::open(Path::new(&dir), config(policy)).unwrap();
    let log = Arc::new(log);
    let out = Arc::new(Mutex::new(std::io::stdout()));
    {
        let mut o = out.lock().unwrap();
        writeln!(o, "ready").unwrap();
        o.flush().unwrap();
    }
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            let log = log.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                for seq in 0u64.. {
                    let n = 1 + (seq % 7) as usize;
                    let recs: Vec<NewRecord> = (0..n)
                        .map(|i| {
                            let key = format!("r{run}-t{t}-s{seq}-i{i}");
                            NewRecord {
                                timestamp_ms: (run * 1_000_000 + seq) as i64,
                                value: value_for(&key),
                                key: Some(Bytes::from(key)),
                                headers: Vec::new(),
                                value_is_json: false,
                            }
                        })
                        .collect();
                    // Thread 0 exercises the acks=leader path followed by an explicit sync.
                    let a = if t == 0 {
                        let a = log.append_buffered(&recs).unwrap();
                        log.sync().unwrap();
                        a
                    } else {
                        log.append(&recs).unwrap()
                    };
                    let mut o = out.lock().unwrap();
                    writeln!(
                        o,
                        "ack {} {} r{run}-t{t}-s{seq}-i0",
                        a.base_offset, a.last_offset
                    )
                    .unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

struct Ack {
    base: u64,
    last: u64,
    first_key: String,
}

#[test]
fn sigkill_at_random_points_keeps_every_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    let mut acks: Vec<Ack> = Vec::new();
    let mut truncations = 0;
    for run in 0..KILLS {
        let policy = if run % 2 == 0 { "group" } else { "always" };
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "crash_child_writer", "--nocapture"])
            .env(DIR_ENV, dir.path())
            .env(POLICY_ENV, policy)
            .env(RUN_ENV, run.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Reads until EOF, so acks printed just before the kill are counted too.
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        // Kill somewhere between right after start-up and tens of milliseconds of writing.
        std::thread::sleep(Duration::from_millis(rng.random_range(5..60)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        for l in lines.iter().filter_map(|l| l.strip_prefix("ack ")) {
            let mut p = l.split(' ');
            acks.push(Ack {
                base: p.next().unwrap().parse().unwrap(),
                last: p.next().unwrap().parse().unwrap(),
                first_key: p.next().unwrap().to_owned(),
            });
        }

        let (log, out) = Log::open(dir.path(), config(FsyncPolicy::Always)).unwrap();
        truncations += usize::from(out.truncated.is_some());
        let hw = log.high_watermark();
        let mut records = Vec::new();
        let mut next = 0;
        while next < hw {
            let r = log.read(next, 10_000, 1 << 20).unwrap();
            next = r.next_offset;
            records.extend(r.records);
        }
        let mut keys = HashSet::new();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as u64, "offsets are contiguous");
            let key = std::str::from_utf8(r.key.as_ref().unwrap()).unwrap();
            assert_eq!(r.value, value_for(key), "record {} intact", r.offset);
            assert!(keys.insert(key.to_owned()), "record {key} duplicated");
        }
        for a in &acks {
            assert!(
                a.last < hw,
                "acknowledged batch {}..={} lost (hw {hw})",
                a.base,
                a.last
            );
            assert_eq!(
                records[a.base as usize].key.as_deref(),
                Some(a.first_key.as_bytes()),
                "acknowledged batch at {} holds its first record",
                a.base
            );
        }
        log.close().unwrap();
    }
    assert!(
        acks.len() > KILLS,
        "children acknowledged {} batches",
        acks.len()
    );
    eprintln!(
        "{KILLS} kills, {} acknowledged batches, {truncations} torn tails truncated",
        acks.len()
    );
}

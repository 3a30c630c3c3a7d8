//! A full disk under the real broker: its data directory on a small tmpfs that a ballast file
//! fills. `acks=all` produce answers 503 `disk_full` (retriable) instead of acknowledging, reads
//! keep working, nothing acknowledged is lost, appends resume once the ballast is deleted (the
//! partition was not left read-only), a SIGKILL and restart while the disk is still full starts
//! (it releases its disk reserve) and serves, and a SIGKILL and restart afterwards serve every
//! acknowledged record.
//!
//! Needs `mount -t tmpfs` (root or CAP_SYS_ADMIN); without it the test prints why and passes
//! without checking anything.
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Api, start_broker};
use serde_json::{Value, json};

const TOPIC: &str = "full";
const MOUNT_BYTES: u64 = 8 << 20;

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: wharf_testkit::tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Result<Self, String> {
        let dir = wharf_testkit::temp_dir("wharf-disk-full");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={MOUNT_BYTES}")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes a ballast file until the filesystem refuses more bytes; returns its path.
fn fill(mount: &Path, name: &str) -> PathBuf {
    let path = mount.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
            return path;
        }
    }
}

/// Produces until an answer is not 200 (bytes left in partly used pages can take a few more
/// batches after the ballast filled the disk) and returns that answer.
fn until_refused(mut produce: impl FnMut() -> (u16, Value)) -> (u16, Value) {
    for _ in 0..500 {
        let (status, body) = produce();
        if status != 200 {
            return (status, body);
        }
    }
    panic!("a full disk refuses appends");
}

fn record(i: usize) -> Value {
    json!({"partition": 0, "value": format!("record-{i}-{}", "v".repeat(200))})
}

#[test]
fn a_full_disk_answers_503_disk_full_loses_nothing_acked_and_appends_resume_when_space_returns() {
    let mount = match Tmpfs::mount() {
        Ok(m) => m,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    let data = mount.path().join("data");
    let mut broker = start_broker(&data, &[]);
    let api = Api::new(&broker.url);
    let (status, body) = api.post(
        "/v1/topics",
        &json!({"name": TOPIC, "partitions": 1, "segment_bytes": 16384, "max_record_bytes": 4096}),
    );
    assert_eq!(status, 201, "{body}");

    // What the broker acknowledged, by offset.
    let mut acked: Vec<(u64, Value)> = Vec::new();
    let mut next = 0usize;
    let mut produce = |api: &Api, acked: &mut Vec<(u64, Value)>| {
        let batch: Vec<Value> = (next..next + 5).map(record).collect();
        next += 5;
        let (status, body) = api.post(
            &format!("/v1/topics/{TOPIC}/records?acks=all"),
            &json!({ "records": batch }),
        );
        if status == 200 {
            for (r, sent) in body["results"].as_array().unwrap().iter().zip(&batch) {
                acked.push((r["offset"].as_u64().unwrap(), sent["value"].clone()));
            }
        }
        (status, body)
    };
    for _ in 0..20 {
        let (status, body) = produce(&api, &mut acked);
        assert_eq!(status, 200, "{body}");
    }

    let ballast = fill(mount.path(), "ballast");
    let (status, body) = until_refused(|| produce(&api, &mut acked));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "disk_full", "{body}");
    assert_eq!(body["error"]["retriable"], true, "{body}");
    // Refused again while full, and never as "read-only" (which would mean a poisoned log).
    for _ in 0..5 {
        let (status, body) = produce(&api, &mut acked);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("disk_full")),
            "{body}"
        );
    }
    // Reads still work while the disk is full.
    let read = api.fetch_all(TOPIC, 0);
    assert_eq!(read.len(), acked.len());

    // A restart while the disk is still full: the broker releases its disk reserve, starts and
    // serves; once that space is taken too, appends are refused again.
    broker.kill();
    broker.restart();
    assert!(
        broker.log().contains("released the disk reserve"),
        "{}",
        broker.log()
    );
    let api = Api::new(&broker.url);
    assert_eq!(api.fetch_all(TOPIC, 0).len(), acked.len());
    let second_ballast = fill(mount.path(), "ballast-2");
    let (status, body) = until_refused(|| produce(&api, &mut acked));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("disk_full")),
        "{body}"
    );

    std::fs::remove_file(&second_ballast).unwrap();
    std::fs::remove_file(&ballast).unwrap();
    let before = acked.len();
    for _ in 0..40 {
        let (status, body) = produce(&api, &mut acked);
        assert_eq!(status, 200, "appends resume once space returns: {body}");
    }
    assert_eq!(acked.len(), before + 200);

    broker.kill();
    broker.restart();
    let api = Api::new(&broker.url);
    let read = api.fetch_all(TOPIC, 0);
    assert_eq!(read.len(), acked.len(), "every acknowledged record is back");
    for (r, (offset, value)) in read.iter().zip(&acked) {
        assert_eq!(r["offset"].as_u64(), Some(*offset));
        assert_eq!(&r["value"], value, "offset {offset}");
    }
    // Offsets are contiguous: nothing refused took an offset.
    for (i, (offset, _)) in acked.iter().enumerate() {
        assert_eq!(*offset, i as u64);
    }
    println!(
        "{} records acknowledged, refusals answered 503 disk_full, {} after space returned",
        acked.len(),
        acked.len() - before
    );
}

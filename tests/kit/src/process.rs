//! Child-process plumbing shared by [`crate::Broker`] and [`crate::LambdaWatch`].

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, mpsc};

/// `<target>/<profile>` of the running test executable (`<target>/<profile>/deps/<test>`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// The workspace root (two levels above `tests/kit`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The `cargo` running the tests (or the one on `PATH`).
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Removes the `WHARF_*` variables of the test's own environment from `cmd`, so a child sees
/// only the settings its test gives it.
pub fn clear_wharf_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| k.starts_with("WHARF_")) {
            cmd.env_remove(k);
        }
    }
}

/// Collected output lines of a child, shared with its reader thread.
pub type Log = Arc<Mutex<Vec<String>>>;

pub fn pump(
    stream: impl std::io::Read + Send + 'static,
    log: Log,
    ready: Option<(mpsc::Sender<String>, &'static str)>,
) {
    std::thread::spawn(move || {
        let mut ready = ready;
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some((tx, needle)) = &ready
                && line.contains(needle)
            {
                let _ = tx.send(line.clone());
                ready = None;
            }
            log.lock().expect("log lock").push(line);
        }
    });
}

/// Lines of a [`Log`] joined for a panic message or an assertion.
pub fn joined(log: &Log) -> String {
    log.lock().expect("log lock").join("\n")
}

/// Removes from `cmd`'s environment what `cargo test` / `cargo nextest` set for the test
/// process (package metadata, `LD_LIBRARY_PATH` additions, nextest's own variables). Inherited
/// by a `cargo` child, they change build-script fingerprints: ring's build script declares
/// `rerun-if-env-changed=CARGO_MANIFEST_DIR`, so a child cargo that sees the test package's
/// `CARGO_MANIFEST_DIR` rebuilds ring, rustls, reqwest, the AWS SDK's HTTP client and every
/// workspace crate above them, and the next build without it rebuilds them all again.
pub fn scrub_cargo_test_env(cmd: &mut Command) {
    const KEEP: &[&str] = &[
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_JOBS",
        "CARGO_NET_OFFLINE",
        "CARGO_TERM_COLOR",
        "CARGO_INCREMENTAL",
    ];
    for (k, _) in std::env::vars_os() {
        let Some(k) = k.to_str() else { continue };
        let drop =
            (k.starts_with("CARGO") && !KEEP.contains(&k) && !k.starts_with("CARGO_PROFILE_"))
                || k.starts_with("NEXTEST")
                || k.starts_with("__NEXTEST")
                || k.starts_with("RUST_TEST")
                || matches!(
                    k,
                    "OUT_DIR"
                        | "LD_LIBRARY_PATH"
                        | "DYLD_FALLBACK_LIBRARY_PATH"
                        | "RUSTC_WORKSPACE_WRAPPER"
                );
        if drop {
            cmd.env_remove(k);
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for a test).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Every process below `root` in the process tree (from `/proc/<pid>/stat`'s parent pids).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
            }
        }
        i += 1;
    }
    found.remove(0);
    found
}

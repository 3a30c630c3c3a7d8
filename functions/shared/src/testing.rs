//! Test harness (feature `testing`): the real `wharf-broker` binary on a free port and
//! `cargo lambda watch` serving the functions, both as child processes killed on drop.
//!
//! Binaries are built into the target directory of the running test (found from the test
//! executable's path), so `cargo test` / `cargo nextest run` need no extra step.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// `<target>/<profile>` of the running test executable (`<target>/<profile>/deps/<test>`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("test executable lives in <target>/<profile>/deps")
        .to_path_buf()
}

/// The workspace root (two levels above `functions/shared`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Builds `wharf-broker` (debug) once per test process and returns its path.
pub fn broker_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let profile = profile_dir();
        let target = profile.parent().expect("target dir").to_path_buf();
        let mut cmd = Command::new(cargo());
        cmd.args(["build", "-q", "-p", "wharf-broker", "--bin", "wharf-broker"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(workspace_root());
        // Same environment as `cargo lambda watch` and the outer test build, or the three take
        // turns rebuilding ring and everything above it (see `scrub_cargo_test_env`).
        scrub_cargo_test_env(&mut cmd);
        let status = cmd.status().expect("run cargo build -p wharf-broker");
        assert!(status.success(), "cargo build -p wharf-broker failed");
        let bin = profile.join("wharf-broker");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
}

/// Collected stderr lines of a child, shared with its reader thread.
pub type Log = Arc<Mutex<Vec<String>>>;

fn pump(
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

/// A running broker (or one stopped by [`Broker::kill`], until [`Broker::restart`]).
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    env: Vec<(String, String)>,
    log: Log,
    data: tempfile_dir::TempDir,
}

impl Broker {
    /// Starts the broker over a fresh data directory.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts the broker over a fresh data directory with extra environment variables (the
    /// broker's `WHARF_*` settings; the test's own `WHARF_*` variables are not inherited).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let data = tempfile_dir::TempDir::new("wharf-fn-broker");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let log: Log = Arc::default();
        let (child, addr) = spawn_broker(data.path(), "127.0.0.1:0", &env, &log);
        let port = addr
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("listening addr has a port");
        Self {
            child: Some(child),
            url: format!("http://{addr}"),
            port,
            env,
            log,
            data,
        }
    }

    /// The data directory (kept across [`Broker::kill`] and [`Broker::restart`]).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The port it listens on (the same after a restart).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no shutdown, no final fsync (what `kill -9` or a power loss does).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again over the same data directory, on the same port and with the same
    /// environment (killing it first if it still runs). Retries while the port is still taken.
    pub fn restart(&mut self) {
        self.kill();
        let listen = format!("127.0.0.1:{}", self.port);
        let (child, addr) = spawn_broker(self.data.path(), &listen, &self.env, &self.log);
        assert_eq!(addr, listen, "restarted broker listens where it did");
        self.child = Some(child);
    }

    /// What the broker logged (all runs).
    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

/// Spawns the broker binary and waits for its `listening` line; returns the child and address.
fn spawn_broker(data: &Path, listen: &str, env: &[(String, String)], log: &Log) -> (Child, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut cmd = Command::new(broker_binary());
        cmd.args(["--listen", listen, "--data-dir"])
            .arg(data)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("WHARF_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn wharf-broker");
        let (tx, rx) = mpsc::channel();
        pump(
            child.stderr.take().expect("stderr"),
            Arc::clone(log),
            Some((tx, "listening")),
        );
        // Either the listening line arrives, or the process exits (port still taken after a
        // kill: try again until the deadline).
        let wait_until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                let addr = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
                    .expect("listening line has addr=")
                    .to_owned();
                return (child, addr);
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() >= wait_until {
                let _ = child.kill();
                panic!(
                    "broker did not start: {}",
                    log.lock().expect("log").join("\n")
                );
            }
        }
        assert!(
            Instant::now() < deadline,
            "broker did not start: {}",
            log.lock().expect("log").join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
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

/// The venv that `infra/local/stack.sh install` creates with cargo-lambda and zig.
pub fn lambda_venv_bin() -> PathBuf {
    workspace_root().join("infra/local/.tools/lambda-venv/bin")
}

/// `PATH` with the cargo-lambda venv first. Panics with the reason when cargo-lambda is missing:
/// these tests must never be skipped silently.
pub fn path_with_cargo_lambda() -> String {
    let bin = lambda_venv_bin();
    assert!(
        bin.join("cargo-lambda").exists(),
        "cargo-lambda not found at {}: run `bash infra/local/stack.sh install` (or `python3 -m venv {} && {}/pip install cargo-lambda ziglang`)",
        bin.join("cargo-lambda").display(),
        bin.parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        bin.display()
    );
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for a test).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// When set in a test's environment, every [`LambdaWatch`] prints its whole log (with cargo's
/// reasons for each rebuild) when it stops.
pub const WATCH_LOG_VAR: &str = "WHARF_TEST_WATCH_LOG";

/// `cargo lambda watch` serving the workspace's functions.
#[derive(Debug)]
pub struct LambdaWatch {
    child: Child,
    /// `http://127.0.0.1:<port>`: the Lambda Invoke API endpoint.
    pub endpoint: String,
    log: Log,
}

impl LambdaWatch {
    /// Starts `cargo lambda watch` at the workspace root with `env` for the functions; a
    /// function is the workspace binary of the same name, compiled on its first invocation
    /// (debug profile, the test's target directory). `{endpoint}` in an env value is replaced by
    /// the watch's own Invoke API endpoint (for `WHARF_LAMBDA_ENDPOINT`).
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::start_with_timeout(env, 300)
    }

    /// [`LambdaWatch::start`] with the functions' timeout in seconds (the deadline each
    /// invocation gets; cargo-lambda's default is 30).
    pub fn start_with_timeout(env: &[(&str, &str)], timeout_s: u64) -> Self {
        let port = free_port();
        let own_endpoint = format!("http://127.0.0.1:{port}");
        let target = profile_dir().parent().expect("target dir").to_path_buf();
        let mut cmd = Command::new("cargo");
        cmd.args([
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(port.to_string())
        .args(["--ignore-changes", "--timeout"])
        .arg(timeout_s.to_string());
        scrub_cargo_test_env(&mut cmd);
        // `--target-dir` trips cargo-lambda's own `cargo metadata` call; the variable works.
        cmd.env("CARGO_TARGET_DIR", &target)
            .current_dir(workspace_root())
            .env("PATH", path_with_cargo_lambda())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("WHARF_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v.replace("{endpoint}", &own_endpoint));
        }
        // Diagnosis of slow watch tests: cargo says why it rebuilds what it rebuilds.
        if std::env::var_os(WATCH_LOG_VAR).is_some() {
            cmd.env("CARGO_LOG", "cargo::core::compiler::fingerprint=info");
        }
        let mut child = cmd.spawn().expect("spawn cargo lambda watch");
        let log: Log = Arc::default();
        pump(child.stdout.take().expect("stdout"), Arc::clone(&log), None);
        pump(child.stderr.take().expect("stderr"), Arc::clone(&log), None);
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "cargo lambda watch exited with {status}: {}",
                    log.lock().expect("log").join("\n")
                );
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen: {}",
                log.lock().expect("log").join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            endpoint,
            log,
        }
    }

    /// The process id of `cargo lambda watch` itself.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Running processes of `function` (the workspace binary of that name) started by this
    /// watch, found by walking `/proc` for descendants of the watch process.
    pub fn function_pids(&self, function: &str) -> Vec<u32> {
        descendants(self.child.id())
            .into_iter()
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .ok()
                    .and_then(|c| {
                        let argv0 = c.split(|b| *b == 0).next()?.to_vec();
                        let argv0 = String::from_utf8(argv0).ok()?;
                        Path::new(&argv0)
                            .file_name()
                            .map(|n| n.to_string_lossy() == function)
                    })
                    .unwrap_or(false)
            })
            .collect()
    }

    /// SIGKILLs every running process of `function` (a crash in the middle of an invocation);
    /// returns the pids killed.
    pub fn kill_function(&self, function: &str) -> Vec<u32> {
        let pids = self.function_pids(function);
        for pid in &pids {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        pids
    }

    /// Everything cargo-lambda and the functions printed so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// The Invoke API URL of `function`.
    pub fn invoke_url(&self, function: &str) -> String {
        format!(
            "{}/2015-03-31/functions/{function}/invocations",
            self.endpoint
        )
    }

    /// The `init_us` figures the functions logged at cold start (`cold start init done`).
    pub fn cold_start_init_us(&self) -> Vec<u64> {
        self.lines_with("cold start init done")
            .iter()
            .filter_map(|l| {
                l.split(|c: char| c.is_whitespace() || c == ',' || c == '"' || c == '{' || c == '}')
                    .find_map(|w| {
                        w.strip_prefix("init_us=")
                            .or_else(|| w.strip_prefix("init_us:"))
                    })
                    .and_then(|v| v.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
            })
            .collect()
    }

    /// Log lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.log
            .lock()
            .expect("log")
            .iter()
            .filter(|l| l.contains(needle))
            .cloned()
            .collect()
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        if std::env::var_os(WATCH_LOG_VAR).is_some() {
            eprintln!(
                "cargo lambda watch log:\n{}",
                self.log.lock().expect("log").join("\n")
            );
        }
        // SIGINT lets cargo-lambda stop the function processes it started.
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every process below `root` in the process tree (from `/proc/<pid>/stat`'s parent pids).
fn descendants(root: u32) -> Vec<u32> {
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

/// A temporary directory without a dependency on `tempfile` in this crate's normal build.
pub mod tempfile_dir {
    use std::path::{Path, PathBuf};

    /// Removed on drop.
    #[derive(Debug)]
    pub struct TempDir(PathBuf);

    impl TempDir {
        /// A fresh directory under the system temp dir.
        pub fn new(prefix: &str) -> Self {
            use std::sync::atomic::{AtomicU64, Ordering};
            static N: AtomicU64 = AtomicU64::new(0);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            let path = std::env::temp_dir().join(format!(
                "{prefix}-{}-{nanos}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("create temp dir");
            Self(path)
        }

        /// The directory.
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

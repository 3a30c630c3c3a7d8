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
        let status = Command::new(cargo())
            .args(["build", "-q", "-p", "wharf-broker", "--bin", "wharf-broker"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build -p wharf-broker");
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

/// A running broker.
#[derive(Debug)]
pub struct Broker {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    log: Log,
    _data: tempfile_dir::TempDir,
}

impl Broker {
    /// Starts the broker over a fresh data directory.
    pub fn start() -> Self {
        let data = tempfile_dir::TempDir::new("wharf-fn-broker");
        let mut cmd = Command::new(broker_binary());
        cmd.args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
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
        let mut child = cmd.spawn().expect("spawn wharf-broker");
        let log: Log = Arc::default();
        let (tx, rx) = mpsc::channel();
        pump(
            child.stderr.take().expect("stderr"),
            Arc::clone(&log),
            Some((tx, "listening")),
        );
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "broker did not start: {}",
                    log.lock().expect("log").join("\n")
                );
            }
        };
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .expect("listening line has addr=")
            .to_owned();
        Self {
            child,
            url: format!("http://{addr}"),
            log,
            _data: data,
        }
    }

    /// What the broker logged.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
        .args(["--ignore-changes", "--timeout", "300"]);
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

//! `cargo lambda watch` serving the workspace's functions, with the cargo-lambda (and zig) that
//! `bash infra/local/stack.sh install` puts in a venv of this checkout.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::process::{
    Log, clear_wharf_env, descendants, free_port, joined, profile_dir, pump, scrub_cargo_test_env,
    workspace_root,
};

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
        clear_wharf_env(&mut cmd);
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
                panic!("cargo lambda watch exited with {status}: {}", joined(&log));
            }
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen: {}",
                joined(&log)
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
        joined(&self.log)
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
            eprintln!("cargo lambda watch log:\n{}", joined(&self.log));
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

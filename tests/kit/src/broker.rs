//! The real `wharf-broker` binary as a child process.
//!
//! The binary is, in order: `$WHARF_BROKER_BIN`; `$CARGO_BIN_EXE_wharf-broker` (set at run time
//! by nextest, and passed explicitly by the broker's own tests through [`Broker::launch`]); or
//! built once per test process with `cargo build -p wharf-broker` into the running test's target
//! directory.
//!
//! With [`TLS_DIR_VAR`] set in the test's environment (as `infra/local/tls_e2e.sh` does), every
//! broker serves HTTPS with the certificate found there and [`Broker::url`] is `https://`; the
//! test's clients trust the private CA through `SSL_CERT_FILE` (rustls-native-certs reads it).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

use crate::process::{
    Log, cargo, clear_wharf_env, joined, profile_dir, pump, scrub_cargo_test_env, workspace_root,
};

/// How long a broker may take to print its `listening` line.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A directory holding `ca.pem`, `cert.pem` and `key.pem` (a certificate for 127.0.0.1 signed by
/// that CA): when set, brokers serve HTTPS with them.
pub const TLS_DIR_VAR: &str = "WHARF_TEST_TLS_DIR";

/// The broker settings that turn TLS on with the certificate in [`TLS_DIR_VAR`], if it is set.
fn tls_env_from_test_env() -> Vec<(String, String)> {
    let Some(dir) = std::env::var_os(TLS_DIR_VAR).filter(|d| !d.is_empty()) else {
        return Vec::new();
    };
    let dir = PathBuf::from(dir);
    for file in ["ca.pem", "cert.pem", "key.pem"] {
        assert!(
            dir.join(file).is_file(),
            "{TLS_DIR_VAR}={} has no {file}",
            dir.display()
        );
    }
    vec![
        (
            "WHARF_TLS_CERT_PATH".to_owned(),
            dir.join("cert.pem").display().to_string(),
        ),
        (
            "WHARF_TLS_KEY_PATH".to_owned(),
            dir.join("key.pem").display().to_string(),
        ),
    ]
}

/// The `wharf-broker` binary the tests run (see the module doc).
pub fn broker_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        for var in ["WHARF_BROKER_BIN", "CARGO_BIN_EXE_wharf-broker"] {
            if let Some(path) = std::env::var_os(var).filter(|p| !p.is_empty()) {
                return PathBuf::from(path);
            }
        }
        let profile = profile_dir();
        let target = profile.parent().expect("target dir").to_path_buf();
        let mut cmd = Command::new(cargo());
        cmd.args(["build", "-q", "-p", "wharf-broker", "--bin", "wharf-broker"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(workspace_root());
        // Same environment as `cargo lambda watch` and the outer test build, or they take turns
        // rebuilding ring and everything above it (see `scrub_cargo_test_env`).
        scrub_cargo_test_env(&mut cmd);
        let status = cmd.status().expect("run cargo build -p wharf-broker");
        assert!(status.success(), "cargo build -p wharf-broker failed");
        let bin = profile.join("wharf-broker");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
}

/// Where a broker keeps its data: a temporary directory it owns, or one its test owns (to
/// inspect or damage the files, or to start a second broker over them).
#[derive(Debug)]
enum DataDir {
    Owned(tempfile::TempDir),
    At(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            Self::Owned(dir) => dir.path(),
            Self::At(path) => path,
        }
    }
}

/// A running broker (or one stopped by [`Broker::kill`], until [`Broker::restart`]), killed on
/// drop.
#[derive(Debug)]
pub struct Broker {
    child: Option<Child>,
    bin: PathBuf,
    /// `http://127.0.0.1:<port>`, or `https://` when the broker serves TLS (its settings name a
    /// certificate, or [`TLS_DIR_VAR`] is set); the same across restarts.
    pub url: String,
    addr: std::net::SocketAddr,
    env: Vec<(String, String)>,
    log: Log,
    data: DataDir,
}

impl Broker {
    /// Starts the broker over a fresh data directory.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts the broker over a fresh data directory with extra environment variables (the
    /// broker's `WHARF_*` settings; the test's own `WHARF_*` variables are not inherited).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let dir = crate::temp_dir("wharf-broker");
        Self::spawn(broker_binary(), DataDir::Owned(dir), env)
    }

    /// Starts the broker over `data_dir`, which the test owns and which outlives the broker.
    pub fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::launch(broker_binary(), data_dir, env)
    }

    /// [`Broker::start_in`] with an explicit binary (the broker's own tests pass the one cargo
    /// built for them, `env!("CARGO_BIN_EXE_wharf-broker")`).
    pub fn launch(bin: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::spawn(bin, DataDir::At(data_dir.to_path_buf()), env)
    }

    fn spawn(bin: &Path, data: DataDir, env: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        // A test that sets its own TLS settings keeps them.
        if !env.iter().any(|(k, _)| k.starts_with("WHARF_TLS_")) {
            env.extend(tls_env_from_test_env());
        }
        let scheme = if env.iter().any(|(k, _)| k == "WHARF_TLS_CERT_PATH") {
            "https"
        } else {
            "http"
        };
        let log: Log = Arc::default();
        let (child, addr) = spawn_broker(bin, data.path(), "127.0.0.1:0", &env, &log);
        Self {
            child: Some(child),
            bin: bin.to_path_buf(),
            url: format!("{scheme}://{addr}"),
            addr,
            env,
            log,
            data,
        }
    }

    /// The address it listens on (the same after a restart).
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The data directory (kept across [`Broker::kill`] and [`Broker::restart`]).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The broker's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: no shutdown, no final fsync (what `kill -9` or a power loss does).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit (at most `timeout`); `None` if it did not exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Starts the broker again over the same data directory, on the same port and with the same
    /// environment (SIGKILLing it first if it still runs).
    pub fn restart(&mut self) {
        self.kill();
        let listen = self.addr.to_string();
        let (child, addr) =
            spawn_broker(&self.bin, self.data.path(), &listen, &self.env, &self.log);
        assert_eq!(addr, self.addr, "restarted broker listens where it did");
        self.child = Some(child);
    }

    /// What the broker logged (all runs).
    pub fn log(&self) -> String {
        joined(&self.log)
    }

    /// CPU time (user + system) the running process has used, from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.pid().expect("broker is running");
        let stat =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after = &stat[stat.rfind(')').expect("comm field") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
        Duration::from_millis(ticks * 10)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Spawns the broker and waits for its `listening` line; returns the child and its address.
/// When the process exits first (a restart whose port is still taken), it tries again until
/// [`START_TIMEOUT`].
fn spawn_broker(
    bin: &Path,
    data: &Path,
    listen: &str,
    env: &[(String, String)],
    log: &Log,
) -> (Child, std::net::SocketAddr) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", listen, "--data-dir"])
            .arg(data)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        clear_wharf_env(&mut cmd);
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
        loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                let addr = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("addr="))
                    .expect("listening line has addr=")
                    .parse()
                    .expect("listening addr is a socket address");
                return (child, addr);
            }
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("broker did not start: {}", joined(log));
            }
        }
        assert!(
            Instant::now() < deadline,
            "broker did not start: {}",
            joined(log)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

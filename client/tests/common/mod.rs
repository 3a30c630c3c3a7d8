//! Test harness: the real `wharf-broker` binary on port 0, and helpers to read its log back.
//! The `wharf` binary's tests (`client/cli/tests`) include this file by path.
//!
//! The broker binary is found, in order, at `$WHARF_BROKER_BIN`, next to the test's own target
//! directory (`target/debug/wharf-broker`, present once the workspace or `-p wharf-broker` is
//! built), or by running `cargo build -p wharf-broker --message-format=json`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use wharf_client::{Client, ClientConfig, ConsumerRecord, FetchOptions};

/// Path of the `wharf-broker` binary (see the module docs).
pub fn broker_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("WHARF_BROKER_BIN") {
            return PathBuf::from(path);
        }
        // Test executables live in target/<profile>/deps; binaries one level up.
        let exe = std::env::current_exe().expect("current_exe");
        if let Some(profile_dir) = exe.parent().and_then(Path::parent) {
            let sibling = profile_dir.join(format!("wharf-broker{}", std::env::consts::EXE_SUFFIX));
            if sibling.is_file() {
                return sibling;
            }
        }
        build_broker()
    })
    .clone()
}

fn build_broker() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "build",
            "-p",
            "wharf-broker",
            "--bin",
            "wharf-broker",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        // ring's build script reruns when `CARGO_MANIFEST_DIR` changes; the test process has
        // this package's, a plain `cargo` build has none. Inheriting it would make this build and
        // the next ordinary one rebuild ring and everything above it in turn.
        .env_remove("CARGO_MANIFEST_DIR")
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build -p wharf-broker");
    assert!(
        output.status.success(),
        "cargo build -p wharf-broker failed"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "wharf-broker")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no wharf-broker executable")
}

/// A running broker process, killed on drop.
pub struct Broker {
    child: Child,
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub data_dir: tempfile::TempDir,
    log: Arc<Mutex<Vec<String>>>,
}

impl Broker {
    /// Starts the broker on a free port over a fresh data directory.
    pub fn start() -> Self {
        Self::start_with_env(&[])
    }

    /// Starts the broker with extra environment (`WHARF_*` settings).
    pub fn start_with_env(env: &[(&str, &str)]) -> Self {
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(broker_bin());
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(data_dir.path())
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
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent
                    && line.contains("listening")
                    && let Some(addr) = line
                        .split_whitespace()
                        .find_map(|w| w.strip_prefix("addr="))
                {
                    let _ = tx.send(addr.to_owned());
                    sent = true;
                }
                sink.lock().unwrap().push(line);
            }
        });
        let Ok(addr) = rx.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            panic!(
                "broker did not start; log:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        Self {
            child,
            url: format!("http://{addr}"),
            addr: addr.parse().expect("socket address"),
            data_dir,
            log,
        }
    }

    /// Everything the broker logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// A client of this broker.
    pub fn client(&self) -> Client {
        client_for(&self.url)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client with short timeouts for `url`.
pub fn client_for(url: &str) -> Client {
    let mut config = ClientConfig::new(url);
    config.request_timeout_ms = 20_000;
    Client::new(config).expect("client")
}

/// Creates a topic with `partitions` partitions.
pub async fn create_topic(client: &Client, name: &str, partitions: u32) {
    client
        .create_topic(&wharf_client::wharf_proto::api::CreateTopic {
            name: name.to_owned(),
            partitions,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
        })
        .await
        .expect("create topic");
}

/// Every record of a partition, from the log start to the high watermark.
pub async fn read_partition(client: &Client, topic: &str, partition: u32) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let batch = client
            .fetch(
                topic,
                partition,
                FetchOptions {
                    max_records: Some(10_000),
                    ..FetchOptions::at(offset)
                },
            )
            .await
            .expect("fetch");
        out.extend(batch.records);
        if batch.next_offset >= batch.high_watermark {
            return out;
        }
        offset = batch.next_offset;
    }
}

/// Every record of every partition of a topic.
pub async fn read_topic(client: &Client, topic: &str) -> Vec<ConsumerRecord> {
    let partitions = client
        .describe_topic(topic)
        .await
        .expect("describe")
        .partitions;
    let mut out = Vec::new();
    for p in 0..partitions {
        out.extend(read_partition(client, topic, p).await);
    }
    out
}

/// Polls `check` until it is true or `timeout` passes.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! Test harness: the real `wharf-broker` binary on port 0, driven over HTTP.
#![allow(dead_code)]

pub mod bodies;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running broker process.
pub struct BrokerProcess {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    env: Vec<(String, String)>,
    log: Arc<Mutex<Vec<String>>>,
}

impl BrokerProcess {
    /// Starts the broker on a free port over `data_dir` with extra `WHARF_*` settings.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Self {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::spawn(data_dir.to_path_buf(), env)
    }

    fn spawn(data_dir: PathBuf, env: Vec<(String, String)>) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wharf-broker"));
        cmd.arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
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
        for (k, v) in &env {
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
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "broker did not start; log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Self {
            child,
            url: format!("http://{addr}"),
            data_dir,
            env,
            log,
        }
    }

    /// Everything the broker logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the broker process has used so far, from `/proc/<pid>/stat`.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc/<pid>/stat");
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after = &stat[stat.rfind(')').expect("comm field") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // /proc reports in USER_HZ, which Linux fixes at 100 for user space.
        Duration::from_millis(ticks * 10)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit (at most `timeout`).
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Kills this process and starts a new one over the same data directory and settings.
    pub fn restart_after_kill9(mut self) -> Self {
        self.kill9();
        let data_dir = self.data_dir.clone();
        let env = self.env.clone();
        drop(self);
        Self::spawn(data_dir, env)
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP client with helpers that return (status, JSON body).
pub struct Api {
    pub base: String,
    pub http: reqwest::blocking::Client,
    pub token: Option<String>,
}

impl Api {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            token: None,
        }
    }

    pub fn with_token(base: &str, token: &str) -> Self {
        let mut api = Self::new(base);
        api.token = Some(token.to_owned());
        api
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        let rb = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    pub fn send(rb: reqwest::blocking::RequestBuilder) -> (u16, Value) {
        let resp = rb.send().expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::GET, path))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::DELETE, path))
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::POST, path).json(body))
    }

    pub fn patch(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::send(self.request(reqwest::Method::PATCH, path).json(body))
    }

    pub fn post_raw(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut rb = self.request(reqwest::Method::POST, path).body(body);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        Self::send(rb)
    }

    pub fn create_topic(&self, name: &str, partitions: u32) -> Value {
        let (status, body) = self.post(
            "/v1/topics",
            &serde_json::json!({"name": name, "partitions": partitions}),
        );
        assert_eq!(status, 201, "create {name}: {body}");
        body
    }

    pub fn produce(&self, topic: &str, records: Value) -> (u16, Value) {
        self.post(
            &format!("/v1/topics/{topic}/records"),
            &serde_json::json!({ "records": records }),
        )
    }

    pub fn fetch(&self, topic: &str, partition: u32, query: &str) -> (u16, Value) {
        self.get(&format!(
            "/v1/topics/{topic}/partitions/{partition}/records?{query}"
        ))
    }

    /// Every record of a partition from offset 0.
    pub fn fetch_all(&self, topic: &str, partition: u32) -> Vec<Value> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        loop {
            let (status, body) = self.fetch(
                topic,
                partition,
                &format!("offset={offset}&max_records=10000"),
            );
            assert_eq!(status, 200, "{body}");
            let records = body["records"].as_array().unwrap().clone();
            if records.is_empty() {
                return out;
            }
            offset = body["next_offset"].as_u64().unwrap();
            out.extend(records);
        }
    }
}

impl Api {
    /// Sends and returns (status, response headers, raw body bytes), for checks on the exact
    /// bytes and headers.
    pub fn send_raw(
        rb: reqwest::blocking::RequestBuilder,
    ) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
        let resp = rb.send().expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
        (status, headers, body)
    }

    /// `GET /v1/topics/{topic}`, asserting 200.
    pub fn describe(&self, topic: &str) -> Value {
        let (status, body) = self.get(&format!("/v1/topics/{topic}"));
        assert_eq!(status, 200, "describe {topic}: {body}");
        body
    }

    /// (log start, high watermark) of every partition of a topic, in partition order.
    pub fn bounds(&self, topic: &str) -> Vec<(u64, u64)> {
        self.describe(topic)["partition_states"]
            .as_array()
            .expect("partition_states")
            .iter()
            .map(|p| {
                (
                    p["log_start_offset"].as_u64().unwrap(),
                    p["high_watermark"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// Creates a topic from a full JSON body, asserting 201.
    /// Polls as `member` of `group`, asserting 200; the answer and its records' offsets.
    pub fn poll_offsets(&self, group: &str, member: &str, body: &Value) -> (Value, Vec<u64>) {
        let (status, polled) =
            self.post(&format!("/v1/groups/{group}/members/{member}/poll"), body);
        assert_eq!(status, 200, "{polled}");
        let offsets = polled["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| r["offset"].as_u64().expect("offset"))
            .collect();
        (polled, offsets)
    }

    pub fn create_topic_with(&self, body: &Value) -> Value {
        let (status, resp) = self.post("/v1/topics", body);
        assert_eq!(status, 201, "create {body}: {resp}");
        resp
    }
}

/// Asserts the body is the JSON error shape (any code) and returns the code.
pub fn error_code(status: u16, body: &Value) -> String {
    assert!(
        body["error"]["code"].is_string()
            && body["error"]["message"].is_string()
            && body["error"]["retriable"].is_boolean(),
        "status {status}: not a JSON error body: {body}"
    );
    body["error"]["code"].as_str().unwrap().to_owned()
}

/// Asserts the JSON error shape and code.
pub fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "body: {body}");
    assert_eq!(body["error"]["code"], code, "body: {body}");
    assert!(body["error"]["message"].is_string(), "body: {body}");
    assert!(body["error"]["retriable"].is_boolean(), "body: {body}");
}

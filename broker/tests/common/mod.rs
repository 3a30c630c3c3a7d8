//! Test harness: the real `wharf-broker` binary (through `wharf-testkit`), driven over HTTP.
#![allow(dead_code)]

pub mod bodies;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

pub use wharf_testkit::Broker;

/// Starts the broker binary cargo built for these tests over `data_dir` with extra `WHARF_*`
/// settings, on a free port.
pub fn start_broker(data_dir: &Path, env: &[(&str, &str)]) -> Broker {
    Broker::launch(Path::new(env!("CARGO_BIN_EXE_wharf-broker")), data_dir, env)
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

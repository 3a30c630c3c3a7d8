//! In-process harness: a [`Broker`] over a temporary data directory behind the very router (and
//! middleware) `wharf_broker::run` serves, driven with `tower::ServiceExt::oneshot`. No process,
//! no port: for everything that does not need kill -9, shutdown or restarts.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::http::{HeaderMap, Method, Request, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use tower::ServiceExt;
use wharf_broker::claim::BrokerClaimCheck;
use wharf_broker::config::{Action, BrokerConfig, RightConfig, TokenConfig};
use wharf_broker::state::Broker;

/// A broker and its router; the data directory lives as long as this.
pub struct App {
    router: Router,
    /// Kept so `stopping` never reads as a closed channel.
    _stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

/// One answer: status, headers and the whole body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts status 2xx-or-whatever `status` says and returns the JSON body.
    pub fn ok(&self, status: u16) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "body: {body}");
        body
    }

    /// Asserts the answer is the JSON error shape with this status and code, and returns the
    /// `details` (`Null` when absent). The shape is exactly `{"error":{code, message, retriable,
    /// details?}}` with a JSON Content-Type, whatever the request asked for.
    pub fn error(&self, status: u16, code: &str) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "body: {body}");
        assert_eq!(self.content_type(), "application/json", "body: {body}");
        let error = body["error"]
            .as_object()
            .unwrap_or_else(|| panic!("no error object: {body}"));
        assert_eq!(error["code"], code, "body: {body}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "body: {body}"
        );
        assert!(error["retriable"].is_boolean(), "body: {body}");
        for key in error.keys() {
            assert!(
                ["code", "message", "retriable", "details"].contains(&key.as_str()),
                "unexpected field {key}: {body}"
            );
        }
        error.get("details").cloned().unwrap_or(Value::Null)
    }
}

/// A token and its rights on topic patterns, for [`App::with_tokens`].
pub fn token(secret: &str, rights: &[(&str, &[Action])]) -> TokenConfig {
    TokenConfig {
        token: Some(secret.to_owned()),
        token_sha256: None,
        name: None,
        rights: rights
            .iter()
            .map(|(topics, actions)| RightConfig {
                topics: (*topics).to_owned(),
                actions: actions.to_vec(),
            })
            .collect(),
    }
}

impl App {
    /// A broker with the default configuration.
    pub async fn start() -> Self {
        Self::with(|_| {}).await
    }

    /// A broker whose default configuration `edit` changed (the data dir is set after it).
    pub async fn with(edit: impl FnOnce(&mut BrokerConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = BrokerConfig::default();
        edit(&mut config);
        config.data_dir = dir.path().to_path_buf();
        config.validate().expect("valid test config");
        let claims = BrokerClaimCheck::from_config(&config)
            .await
            .expect("local blob store");
        let (stop, stopping) = watch::channel(false);
        let broker = Broker::open(config, claims, stopping)
            .await
            .expect("open broker");
        Self {
            router: wharf_broker::api::router(Arc::new(broker)),
            _stop: stop,
            _dir: dir,
        }
    }

    /// A broker that requires these tokens.
    pub async fn with_tokens(tokens: Vec<TokenConfig>) -> Self {
        Self::with(|c| c.auth.tokens = tokens).await
    }

    /// Sends one request through the router.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Sends `method path` with these headers and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let body = body.into();
        let mut request = Request::builder().method(method).uri(path);
        // HTTP clients declare the length of a body they hold whole; the broker's body limit
        // checks the declared length first, so tests see the same path as over a socket.
        if let Some(len) = body.size_hint().exact().filter(|&len| len > 0) {
            request = request.header(header::CONTENT_LENGTH, len);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request.body(body).expect("valid request")).await
    }

    /// Sends `method path` as the holder of `token` (none: no Authorization header), with a
    /// JSON body if given.
    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Reply {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer));
        }
        let body = body.map_or_else(String::new, Value::to_string);
        self.call(method, path, &headers, body).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, &[], Body::empty()).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.call(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Reply {
        self.call(
            Method::PATCH,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    /// Creates a topic, asserting 201.
    pub async fn create_topic(&self, name: &str, partitions: u32) -> Value {
        self.post(
            "/v1/topics",
            &json!({"name": name, "partitions": partitions}),
        )
        .await
        .ok(201)
    }

    /// Produces `{"records": records}` (JSON in, JSON out).
    pub async fn produce(&self, topic: &str, records: Value) -> Reply {
        self.post(
            &format!("/v1/topics/{topic}/records"),
            &json!({ "records": records }),
        )
        .await
    }

    /// Fetches with a query string.
    pub async fn fetch(&self, topic: &str, partition: u32, query: &str) -> Reply {
        self.get(&format!(
            "/v1/topics/{topic}/partitions/{partition}/records?{query}"
        ))
        .await
    }

    /// The high watermark of every partition of a topic, in partition order.
    pub async fn high_watermarks(&self, topic: &str) -> Vec<u64> {
        self.get(&format!("/v1/topics/{topic}")).await.ok(200)["partition_states"]
            .as_array()
            .expect("partition_states")
            .iter()
            .map(|p| p["high_watermark"].as_u64().expect("high_watermark"))
            .collect()
    }
}

/// The `value` of every record in a fetch or poll answer, in order.
pub fn values(answer: &Value) -> Vec<Value> {
    answer["records"]
        .as_array()
        .unwrap_or_else(|| panic!("no records: {answer}"))
        .iter()
        .map(|r| r["value"].clone())
        .collect()
}

//! What every scenario needs: LocalStack S3 with a fresh bucket, the broker, `cargo lambda watch`
//! with the functions' environment, invocations through the Lambda Invoke API, and reads of the
//! group's progress.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_s3::config::{Credentials, Region};
use serde_json::{Value, json};
use wharf_blob::{S3BlobStore, S3Config};
use wharf_client::wharf_proto::api::CreateTopic;
use wharf_client::{Client, ClientConfig, FetchOptions};
use wharf_testkit::{Broker, LambdaWatch};

/// The demo topic of the seed scenario (order service → inventory).
pub const ORDERS: &str = "order.order-service.created";

/// LocalStack's endpoint: `WHARF_TEST_S3_ENDPOINT` (set by `stack.sh env`), else the default
/// port. Fails, never skips, when nothing answers there.
pub async fn s3_endpoint() -> String {
    let endpoint = std::env::var("WHARF_TEST_S3_ENDPOINT")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:4566".to_owned());
    let health = reqwest::get(format!("{endpoint}/_localstack/health")).await;
    assert!(
        health.is_ok_and(|r| r.status().is_success()),
        "LocalStack does not answer on {endpoint}: the end-to-end tests need it. Run `bash \
         infra/local/stack.sh up --localstack-only` (or `bash infra/local/test.sh`), then \
         `eval \"$(bash infra/local/stack.sh env)\"`"
    );
    endpoint
}

/// A freshly created bucket in LocalStack.
pub struct Bucket {
    pub name: String,
    pub endpoint: String,
    pub store: S3BlobStore,
}

pub async fn fresh_bucket() -> Bucket {
    let endpoint = s3_endpoint().await;
    let shared = wharf_blob::aws::sdk_config_loader()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "wharf-e2e"))
        .load()
        .await;
    let name = format!(
        "wharf-e2e-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..20]
    );
    let store = S3BlobStore::from_sdk_config(
        &shared,
        S3Config {
            endpoint_url: Some(endpoint.clone()),
            force_path_style: true,
            ..S3Config::new(name.clone())
        },
    )
    .expect("valid S3 config");
    let outcome = store.ensure_bucket().await.expect("create the test bucket");
    assert!(outcome.created, "bucket names are unique");
    Bucket {
        name,
        endpoint,
        store,
    }
}

impl Bucket {
    /// The variables that point a function's claim check (and the AWS SDK) at this bucket.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("WHARF_OFFLOAD_BUCKET".into(), self.name.clone()),
            ("WHARF_OFFLOAD_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), "test".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }

    /// Object keys in the bucket.
    pub async fn keys(&self) -> Vec<String> {
        let listed = self
            .store
            .client()
            .list_objects_v2()
            .bucket(&self.name)
            .send()
            .await
            .expect("list objects");
        listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }
}

/// Starts `cargo lambda watch` with the functions' environment: the broker URL, the bucket and
/// `extra`.
pub fn watch(broker_url: &str, bucket: &Bucket, extra: &[(&str, &str)]) -> LambdaWatch {
    let mut env: Vec<(String, String)> = bucket.env();
    env.push(("WHARF_URL".into(), broker_url.to_owned()));
    for (k, v) in extra {
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    let refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    LambdaWatch::start(&refs)
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .expect("HTTP client")
}

pub fn client(url: &str) -> Client {
    Client::new(ClientConfig::new(url.to_owned())).expect("client")
}

pub async fn create_topic(client: &Client, name: &str, partitions: u32) {
    client
        .create_topic(&CreateTopic {
            name: name.to_owned(),
            partitions,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
            schema_validation: None,
        })
        .await
        .expect("create topic");
}

/// Invokes `function` through the Lambda Invoke API; an error unless it answered without a
/// function error.
pub async fn try_invoke(
    http: &reqwest::Client,
    watch_endpoint: &str,
    function: &str,
    payload: &Value,
) -> Result<Value> {
    let url = format!("{watch_endpoint}/2015-03-31/functions/{function}/invocations");
    let response = http.post(&url).json(payload).send().await?;
    let status = response.status();
    let function_error = response.headers().get("x-amz-function-error").cloned();
    let body = response.bytes().await?;
    let body: Value = serde_json::from_slice(&body)
        .with_context(|| format!("{function}: not JSON: {}", String::from_utf8_lossy(&body)))?;
    if !status.is_success() || function_error.is_some() {
        bail!("invoke {function}: {status} {function_error:?} {body}");
    }
    Ok(body)
}

/// [`try_invoke`] that panics with the watch's log on failure.
pub async fn invoke(
    http: &reqwest::Client,
    watch: &LambdaWatch,
    function: &str,
    payload: &Value,
) -> Value {
    match try_invoke(http, &watch.endpoint, function, payload).await {
        Ok(v) => v,
        Err(e) => panic!("{e:#}\nlog:\n{}", tail(&watch.log(), 80)),
    }
}

/// The last `n` lines of `log`.
pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Compiles (first use) and starts a consumer function without handing it anything.
pub async fn warm_consumer(http: &reqwest::Client, watch: &LambdaWatch, function: &str) {
    let warm = invoke(http, watch, function, &json!({"max_duration_ms": 0})).await;
    assert_eq!(warm["records"], 0, "{warm}");
}

/// Compiles (first use) and starts the producer: an empty direct invocation is refused, which is
/// fine here.
pub async fn warm_producer(http: &reqwest::Client, watch: &LambdaWatch, topic: &str) {
    let _ = try_invoke(
        http,
        &watch.endpoint,
        "wharf-producer",
        &json!({"topic": topic, "records": []}),
    )
    .await;
}

/// Committed offsets per partition of `group` (empty before the first commit).
pub async fn committed(client: &Client, group: &str) -> BTreeMap<u32, u64> {
    match client.describe_group(group).await {
        Ok(d) => d
            .partitions
            .iter()
            .map(|p| (p.partition, p.committed_offset.unwrap_or(0)))
            .collect(),
        Err(e) if e.code() == Some(&wharf_client::ErrorCode::UnknownGroup) => BTreeMap::new(),
        Err(e) => panic!("describe group {group}: {e}"),
    }
}

pub async fn committed_total(client: &Client, group: &str) -> u64 {
    committed(client, group).await.values().sum()
}

/// Records in `topic` (sum of high watermarks).
pub async fn produced_total(client: &Client, topic: &str) -> u64 {
    client
        .describe_topic(topic)
        .await
        .expect("describe topic")
        .partition_states
        .iter()
        .map(|p| p.high_watermark)
        .sum()
}

/// Invokes the consumer `function` until `group` has committed `expected` records, at most
/// `within`. Failed invocations (broker restarting) are retried.
pub async fn drain(
    http: &reqwest::Client,
    watch: &LambdaWatch,
    client: &Client,
    function: &str,
    group: &str,
    expected: u64,
    within: Duration,
) -> u32 {
    let deadline = Instant::now() + within;
    let mut invocations = 0;
    loop {
        if committed_total(client, group).await >= expected {
            return invocations;
        }
        assert!(
            Instant::now() < deadline,
            "{group} committed {} of {expected} within {within:?}\nlog:\n{}",
            committed_total(client, group).await,
            tail(&watch.log(), 80)
        );
        invocations += 1;
        if let Err(e) = try_invoke(http, &watch.endpoint, function, &json!({})).await {
            eprintln!("consumer invocation failed (retrying): {e:#}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

/// Every record of partition `p` of `topic`.
pub async fn fetch_all(client: &Client, topic: &str, p: u32) -> Vec<wharf_client::ConsumerRecord> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let batch = client
            .fetch(topic, p, FetchOptions::at(offset))
            .await
            .expect("fetch");
        if batch.records.is_empty() {
            return out;
        }
        offset = batch.next_offset;
        out.extend(batch.records);
    }
}

/// An API Gateway HTTP API (payload 2.0) request posting `body` to `/topics/{topic}`, keyed by
/// the JSON pointer `key_pointer` of each element, with `request_id` (the idempotency key).
pub fn apigw_request(topic: &str, request_id: &str, key_pointer: &str, body: &Value) -> Value {
    let mut event: Value = serde_json::from_str(include_str!(
        "../../../functions/producer/tests/fixtures/apigw-v2.json"
    ))
    .expect("fixture");
    let body = body.to_string();
    event["rawPath"] = json!(format!("/topics/{topic}"));
    event["requestContext"]["http"]["path"] = json!(format!("/topics/{topic}"));
    event["pathParameters"] = json!({"topic": topic});
    event["rawQueryString"] = json!(format!("key_pointer={key_pointer}"));
    event["queryStringParameters"] = json!({"key_pointer": key_pointer});
    event["headers"]["content-length"] = json!(body.len().to_string());
    event["requestContext"]["requestId"] = json!(request_id);
    event["body"] = json!(body);
    event
}

/// The HTTP status and JSON body of an API Gateway response from the producer.
pub fn http_answer(response: &Value) -> (u64, Value) {
    let status = response["statusCode"].as_u64().unwrap_or(0);
    let body = response["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

/// A temporary directory for function state (recorder files, inventory stock).
pub fn state_dir(prefix: &str) -> wharf_testkit::tempfile::TempDir {
    wharf_testkit::temp_dir(prefix)
}

/// `path` as a `&str` for an environment variable.
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// A broker with `topic` of `partitions` partitions, its client, and a fresh bucket.
pub async fn broker_with_topic(topic: &str, partitions: u32) -> (Broker, Client, Bucket) {
    let bucket = fresh_bucket().await;
    let broker = Broker::start();
    let client = client(&broker.url);
    create_topic(&client, topic, partitions).await;
    (broker, client, bucket)
}

/// The `p`-quantile of sorted `values`.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

//! Clients of the test broker (feature `client`): the set-up and read-back every client,
//! function and end-to-end test repeats, in one place.
//!
//! - [`client_for`] / [`broker_with_topics`]: a client of a broker, and a fresh broker with its
//!   topics created.
//! - [`read_partition`] / [`read_topic`]: everything a topic holds, up to the high watermark.
//! - [`committed`] / [`committed_total`]: a group's progress, empty (0) for a group the broker
//!   does not know (it keeps no group without members or commits).
//! - [`eventually`]: polls a condition until it holds or a timeout passes.
//! - [`create_validated_topic`] / [`register_schema`]: a topic whose records are checked
//!   against its schemas, and a schema registered through the broker's `/schemas/` routes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use wharf_client::wharf_proto::api::{CreateTopic, SchemaValidation};
use wharf_client::{Client, ClientConfig, ConsumerRecord, ErrorCode, FetchOptions};

use crate::Broker;

/// A client of the broker at `url`, with a 20 s request timeout (a stuck test fails instead of
/// hanging for the default 30 s per call).
pub fn client_for(url: &str) -> Client {
    let mut config = ClientConfig::new(url);
    config.request_timeout_ms = 20_000;
    Client::new(config).expect("client")
}

/// Creates `name` with `partitions` partitions and the broker's defaults for the rest.
pub async fn create_topic(client: &Client, name: &str, partitions: u32) {
    client
        .create_topic(&CreateTopic::new(name, partitions))
        .await
        .expect("create topic");
}

/// Creates `name` with one partition and `schema_validation = mode`.
pub async fn create_validated_topic(client: &Client, name: &str, mode: SchemaValidation) {
    let mut topic = CreateTopic::new(name, 1);
    topic.schema_validation = Some(mode);
    client.create_topic(&topic).await.expect("create topic");
}

/// Registers `schema` (`kind`: `"JSON"` or `"AVRO"`) under `subject` through the broker's
/// Confluent-compatible registry; answers the schema's global id.
pub async fn register_schema(url: &str, subject: &str, kind: &str, schema: &str) -> u32 {
    let response = reqwest::Client::new()
        .post(format!("{url}/schemas/subjects/{subject}/versions"))
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .json(&serde_json::json!({"schema": schema, "schemaType": kind}))
        .send()
        .await
        .expect("register schema");
    let status = response.status();
    let body: serde_json::Value = response.json().await.expect("registry answer is JSON");
    assert!(status.is_success(), "register {subject}: {status} {body}");
    let id = body["id"].as_u64().expect("the answer names the id");
    u32::try_from(id).expect("schema ids fit in 32 bits")
}

/// A fresh broker (own data directory, free port) holding `topics` (name, partitions), and a
/// client of it.
pub async fn broker_with_topics(topics: &[(&str, u32)]) -> (Broker, Client) {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    for (name, partitions) in topics {
        create_topic(&client, name, *partitions).await;
    }
    (broker, client)
}

/// Every record of a partition, from the log start to the high watermark.
pub async fn read_partition(client: &Client, topic: &str, partition: u32) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let options = FetchOptions {
            max_records: Some(10_000),
            ..FetchOptions::at(offset)
        };
        let batch = client
            .fetch(topic, partition, options)
            .await
            .expect("fetch");
        out.extend(batch.records);
        if batch.next_offset >= batch.high_watermark {
            return out;
        }
        offset = batch.next_offset;
    }
}

/// Every record of every partition of a topic, partition by partition.
pub async fn read_topic(client: &Client, topic: &str) -> Vec<ConsumerRecord> {
    let partitions = client
        .describe_topic(topic)
        .await
        .expect("describe topic")
        .partitions;
    let mut out = Vec::new();
    for p in 0..partitions {
        out.extend(read_partition(client, topic, p).await);
    }
    out
}

/// Committed offsets per partition of `group`; empty before the first commit.
pub async fn committed(client: &Client, group: &str) -> BTreeMap<u32, u64> {
    match client.describe_group(group).await {
        Ok(d) => d
            .partitions
            .iter()
            .map(|p| (p.partition, p.committed_offset.unwrap_or(0)))
            .collect(),
        Err(e) if e.code() == Some(&ErrorCode::UnknownGroup) => BTreeMap::new(),
        Err(e) => panic!("describe group {group}: {e}"),
    }
}

/// Sum of `group`'s committed offsets: records consumed, on a log that starts at offset 0.
pub async fn committed_total(client: &Client, group: &str) -> u64 {
    committed(client, group).await.values().sum()
}

/// Polls `check` every 50 ms until it is true; panics naming `what` once `timeout` passes.
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

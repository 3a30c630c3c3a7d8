//! Test helpers for the client crates: the real broker (from `wharf-testkit`) and clients of it.
//! The `wharf` binary's tests (`client/cli/tests`) include this file by path.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use wharf_client::{Client, ClientConfig, ConsumerRecord, FetchOptions};
pub use wharf_testkit::Broker;

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
            schema_validation: None,
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

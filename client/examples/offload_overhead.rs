//! Offload overhead: a 10 MiB value produced and consumed through Wharf's claim check (client
//! offload to S3, pointer through the broker, consumer resolve with SHA-256 check) against a raw
//! aws-sdk-s3 put + get of the same bytes, in the same run. Prints both and their ratio.
//!
//! ```sh
//! bash infra/local/stack.sh up && eval "$(bash infra/local/stack.sh env)"
//! target/release/wharf-broker --data-dir "$(mktemp -d)" --listen 127.0.0.1:18080 &
//! cargo run --release -p wharf-client --example offload_overhead -- http://127.0.0.1:18080 20
//! ```
//! Arguments: broker URL (default `http://127.0.0.1:8080`), rounds (default 10). The S3 endpoint
//! comes from `WHARF_TEST_S3_ENDPOINT` (or `AWS_ENDPOINT_URL`); a fresh bucket is created.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wharf_blob::{BlobStore, S3BlobStore, S3Config};
use wharf_client::{
    BlobOffload, BlobResolve, Client, ClientConfig, Consumer, ConsumerConfig, Producer,
    ProducerConfig, Record,
};
use wharf_proto::api::CreateTopic;

const VALUE_BYTES: usize = 10 * 1024 * 1024;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let rounds: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(10);
    let endpoint = std::env::var("WHARF_TEST_S3_ENDPOINT")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .map_err(|_| {
            anyhow::anyhow!("set WHARF_TEST_S3_ENDPOINT (bash infra/local/stack.sh env)")
        })?;

    let mut s3 = S3Config::new(format!("wharf-offload-bench-{}", std::process::id()));
    s3.endpoint_url = Some(endpoint);
    s3.region = Some("us-east-1".into());
    s3.force_path_style = true;
    let store = Arc::new(S3BlobStore::connect(s3).await?);
    store.ensure_bucket().await?;

    let client = Client::new(ClientConfig::new(url))?;
    let topic = format!("offload-bench-{}", std::process::id());
    client
        .create_topic(&CreateTopic {
            name: topic.clone(),
            partitions: 1,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
            schema_validation: None,
        })
        .await?;
    let value = Bytes::from(
        (0..VALUE_BYTES)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>(),
    );

    let producer = Producer::with_offload(
        client.clone(),
        ProducerConfig::default(),
        Some(Arc::new(BlobOffload::new(
            store.clone(),
            "wharf",
            256 * 1024,
        ))),
    );
    let mut config = ConsumerConfig::new(format!("bench-{}", std::process::id()), topic.clone());
    config.poll_wait_ms = 1_000;
    let mut consumer = Consumer::join_with(
        client.clone(),
        config,
        Some(Arc::new(BlobResolve::new(store.clone()))),
    )
    .await?;

    let (mut wharf, mut raw) = (Vec::new(), Vec::new());
    for round in 0..rounds + 1 {
        // Wharf: produce (offload + pointer append, acks=all) then consume (poll + resolve).
        let started = Instant::now();
        producer
            .send(&topic, Record::bytes(value.clone()))
            .await?
            .await?;
        let mut got = Vec::new();
        while got.is_empty() {
            got = consumer.poll().await?;
        }
        consumer.commit().await?;
        let wharf_time = started.elapsed();
        anyhow::ensure!(got[0].value == value, "round {round}: value differs");

        // Raw: put + get of the same bytes.
        let key = format!("raw/{round}");
        let started = Instant::now();
        store
            .put(&key, value.clone(), "application/octet-stream")
            .await?;
        let back = store.get(&key).await?;
        let raw_time = started.elapsed();
        anyhow::ensure!(back == value, "round {round}: raw value differs");

        if round > 0 {
            // Round 0 warms connections and the bucket.
            wharf.push(wharf_time);
            raw.push(raw_time);
        }
    }
    producer.close().await?;
    consumer.shutdown().await?;

    let (w, r) = (median(wharf), median(raw));
    println!(
        "value: {} MiB, rounds: {rounds} (median)",
        VALUE_BYTES >> 20
    );
    println!("wharf produce+consume: {:>8.1} ms", w.as_secs_f64() * 1e3);
    println!("raw s3 put+get:        {:>8.1} ms", r.as_secs_f64() * 1e3);
    println!(
        "ratio:                 {:>8.2}x (target <= 1.5x)",
        w.as_secs_f64() / r.as_secs_f64()
    );
    Ok(())
}

//! The claim check through the client: a 10 MiB value produced with [`BlobOffload`] travels
//! through S3 (LocalStack) and arrives byte-equal at a consumer with [`BlobResolve`]; the log
//! holds only the pointer; a corrupted object fails the poll naming the record.
//! Needs `WHARF_TEST_S3_ENDPOINT` (set by `bash infra/local/test.sh`).
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use wharf_blob::{BlobStore, Pointer, S3BlobStore, S3Config};
use wharf_client::{
    BlobOffload, BlobResolve, ConsumeError, Consumer, ConsumerConfig, FetchOptions, Producer,
    ProducerConfig, Record,
};
use wharf_testkit::Broker;
use wharf_testkit::client::{client_for, create_topic};

fn s3_endpoint() -> String {
    match std::env::var("WHARF_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!(
            "WHARF_TEST_S3_ENDPOINT is not set: this test needs LocalStack S3. Run \
             `bash infra/local/test.sh`, or `bash infra/local/stack.sh up && eval \"$(bash \
             infra/local/stack.sh env)\"`"
        ),
    }
}

async fn fresh_bucket(name: &str) -> Arc<S3BlobStore> {
    let mut config = S3Config::new(name);
    config.endpoint_url = Some(s3_endpoint());
    config.region = Some("us-east-1".into());
    config.force_path_style = true;
    let store = S3BlobStore::connect(config).await.unwrap();
    store.ensure_bucket().await.unwrap();
    Arc::new(store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mib_value_travels_through_s3_and_arrives_byte_equal() {
    let bucket = format!("wharf-client-claim-{}", std::process::id());
    let store = fresh_bucket(&bucket).await;
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "uploads", 2).await;

    let value: Vec<u8> = (0..10 * 1024 * 1024)
        .map(|i: u32| (i % 251) as u8)
        .collect();
    let digest = hex::encode(Sha256::digest(&value));
    let producer = Producer::with_offload(
        client.clone(),
        ProducerConfig::default(),
        Some(Arc::new(BlobOffload::new(
            store.clone(),
            "wharf",
            256 * 1024,
        ))),
    );
    let delivery = producer
        .send(
            "uploads",
            Record::bytes(Bytes::from(value.clone())).with_key("scan-1"),
        )
        .await
        .unwrap();
    let meta = delivery.await.unwrap();
    producer.close().await.unwrap();

    // The log holds only the pointer; the object is in the bucket.
    let batch = client
        .fetch(
            "uploads",
            meta.partition,
            FetchOptions::at(meta.offset.unwrap()),
        )
        .await
        .unwrap();
    let stored = &batch.records[0];
    assert_eq!(
        stored.headers.get("wharf-payload").map(String::as_str),
        Some("s3")
    );
    assert!(
        stored.value.len() < 1024,
        "the log holds a pointer, {} bytes",
        stored.value.len()
    );
    let pointer = Pointer::from_json(&stored.value).unwrap();
    assert_eq!(
        (pointer.bucket.as_str(), pointer.size),
        (bucket.as_str(), value.len() as u64)
    );
    assert_eq!(pointer.sha256, digest);
    assert_eq!(
        store.head(&pointer.key).await.unwrap().size_bytes,
        value.len() as u64
    );

    // A consumer with the resolver gets the bytes back.
    let mut config = ConsumerConfig::new("readers", "uploads");
    config.poll_wait_ms = 200;
    let mut consumer = Consumer::join_with(
        client.clone(),
        config,
        Some(Arc::new(BlobResolve::new(store.clone()))),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    for _ in 0..20 {
        got.extend(consumer.poll().await.unwrap());
        if !got.is_empty() {
            break;
        }
    }
    assert_eq!(got.len(), 1);
    assert!(
        got[0].value.as_ref() == value.as_slice(),
        "value differs after the round trip"
    );
    assert!(!got[0].headers.contains_key("wharf-payload"));
    consumer.commit().await.unwrap();
    consumer.shutdown().await.unwrap();

    // Corrupt the object: a new group's poll fails and names the record.
    store
        .put(
            &pointer.key,
            Bytes::from_static(b"not the value"),
            "application/octet-stream",
        )
        .await
        .unwrap();
    let mut config = ConsumerConfig::new("auditors", "uploads");
    config.poll_wait_ms = 200;
    let mut auditor = Consumer::join_with(
        client.clone(),
        config,
        Some(Arc::new(BlobResolve::new(store))),
    )
    .await
    .unwrap();
    let mut failure = None;
    for _ in 0..20 {
        match auditor.poll().await {
            Ok(records) if records.is_empty() => continue,
            Ok(records) => panic!("a corrupt object was delivered: {} records", records.len()),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    match failure.expect("the poll failed") {
        ConsumeError::Resolve {
            topic,
            partition,
            offset,
            ..
        } => {
            assert_eq!(
                (topic.as_str(), partition, Some(offset)),
                ("uploads", meta.partition, meta.offset)
            );
        }
        other => panic!("unexpected error {other}"),
    }
    auditor.shutdown().await.unwrap();
}

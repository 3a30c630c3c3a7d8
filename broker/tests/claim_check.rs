//! The broker's claim check on the real binary: large values from HTTP producers go to the blob
//! store and the log keeps a pointer; `resolve=url` readers get the object; retention deletes
//! the objects of expired segments and no others. Runs against the local-directory store and
//! against S3 in LocalStack (`WHARF_TEST_S3_ENDPOINT`, set by `bash infra/local/test.sh`).
mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Api, Broker, start_broker};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use wharf_blob::{BlobStore, Pointer, ResolveError, S3BlobStore, S3Config};

fn s3_endpoint() -> String {
    match std::env::var("WHARF_TEST_S3_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!(
            "WHARF_TEST_S3_ENDPOINT is not set: these tests need LocalStack S3. Run \
             `bash infra/local/test.sh`, or `bash infra/local/stack.sh up && eval \"$(bash \
             infra/local/stack.sh env)\"`"
        ),
    }
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn produce_bytes(api: &Api, topic: &str, value: &[u8]) -> u64 {
    let (status, body) = api.produce(
        topic,
        json!([{"value_b64": B64.encode(value), "partition": 0}]),
    );
    assert_eq!(status, 200, "{body}");
    body["results"][0]["offset"].as_u64().unwrap()
}

fn pointer_at(api: &Api, topic: &str, offset: u64) -> Pointer {
    let (status, body) = api.fetch(topic, 0, &format!("offset={offset}&max_records=1"));
    assert_eq!(status, 200, "{body}");
    let record = &body["records"][0];
    assert_eq!(record["headers"]["wharf-payload"], "s3", "{record}");
    let value = serde_json::to_vec(&record["value"]).unwrap();
    Pointer::from_json(&value).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn large_values_are_offloaded_to_the_local_store_and_resolved_inline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("media", 1);

    let small = payload(1_000, 1);
    let large = payload(600 * 1024, 2);
    produce_bytes(&api, "media", &small);
    let offset = produce_bytes(&api, "media", &large);

    // Small values stay inline; the large one is a pointer in the log.
    let (_, body) = api.fetch("media", 0, "offset=0&max_records=1");
    assert_eq!(body["records"][0]["value_b64"], B64.encode(&small));
    let pointer = pointer_at(&api, "media", offset);
    assert_eq!(pointer.size, large.len() as u64);
    assert_eq!(pointer.sha256, hex::encode(Sha256::digest(&large)));
    assert!(pointer.key.starts_with("wharf/media/"), "{}", pointer.key);
    let stored = std::fs::read(dir.path().join("blobs").join(&pointer.key)).unwrap();
    assert_eq!(stored, large);
    let described = api.describe("media");
    let size = described["partition_states"][0]["size_bytes"]
        .as_u64()
        .unwrap();
    assert!(
        size < 10_000,
        "the log holds pointers, not payloads ({size} bytes)"
    );

    // resolve=url: the local store cannot presign, so the reader gets the bytes.
    let (status, body) = api.fetch("media", 0, &format!("offset={offset}&resolve=url"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["records"][0]["value_b64"], B64.encode(&large));
    assert!(body["records"][0]["headers"].get("wharf-payload").is_none());

    // A corrupted object is detected, naming the failure.
    std::fs::write(dir.path().join("blobs").join(&pointer.key), b"tampered").unwrap();
    let (status, body) = api.fetch("media", 0, &format!("offset={offset}&resolve=url"));
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "claim_check_failed");
    assert_eq!(body["error"]["retriable"], false);
}

#[test]
fn a_failed_offload_refuses_only_its_record_and_the_others_land_in_request_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    api.create_topic("media", 1);
    // The store's root becomes a plain file: every put fails from now on.
    let blobs = dir.path().join("blobs");
    let _ = std::fs::remove_dir_all(&blobs);
    std::fs::write(&blobs, b"not a directory").unwrap();

    let large = payload(600 * 1024, 3);
    let (status, body) = api.produce(
        "media",
        json!([
            {"value": "first", "partition": 0},
            {"value_b64": B64.encode(&large), "partition": 0},
            {"value": "second", "partition": 0},
        ]),
    );
    assert_eq!(status, 207, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["offset"], 0, "{body}");
    assert_eq!(results[1]["error"]["code"], "claim_check_failed", "{body}");
    assert!(results[1].get("offset").is_none(), "{body}");
    assert_eq!(results[2]["offset"], 1, "{body}");

    let stored: Vec<Value> = api
        .fetch_all("media", 0)
        .into_iter()
        .map(|r| r["value"].clone())
        .collect();
    assert_eq!(stored, [json!("first"), json!("second")]);
}

/// Produces 12 offloaded records into 1 KiB segments, shrinks retention, and checks that exactly
/// the objects of records below the new log start are gone. `exists` asks the store.
fn check_retention_lifecycle(broker: &Broker, exists: &dyn Fn(&str) -> bool) {
    let api = Api::new(&broker.url);
    let (status, body) = api.post(
        "/v1/topics",
        &json!({"name": "scans", "partitions": 1, "segment_bytes": 1024, "max_record_bytes": 1024}),
    );
    assert_eq!(status, 201, "{body}");
    // Each pointer record is a few hundred bytes: 1 KiB segments roll every few records.
    let offsets: Vec<u64> = (0..12)
        .map(|i| produce_bytes(&api, "scans", &payload(300 * 1024, i)))
        .collect();
    let pointers: Vec<Pointer> = offsets
        .iter()
        .map(|o| pointer_at(&api, "scans", *o))
        .collect();
    for p in &pointers {
        assert!(exists(&p.key), "object {} missing after produce", p.key);
    }

    let (status, body) = api.patch("/v1/topics/scans", &json!({"retention_bytes": 1500}));
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let log_start = loop {
        let start = api.describe("scans")["partition_states"][0]["log_start_offset"]
            .as_u64()
            .unwrap();
        if start > 0 {
            break start;
        }
        assert!(Instant::now() < deadline, "retention never ran");
        std::thread::sleep(Duration::from_millis(100));
    };
    // Objects are deleted right after their segments, in the same pass: wait for the counter.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = reqwest::blocking::get(format!("{}/metrics", broker.url))
            .unwrap()
            .text()
            .unwrap();
        let deleted: f64 = metrics
            .lines()
            .find(|l| l.starts_with("wharf_blob_deletes_total"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        if deleted as u64 >= log_start {
            assert_eq!(
                deleted as u64, log_start,
                "one deletion per expired pointer"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "objects of expired segments were not deleted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (offset, p) in offsets.iter().zip(&pointers) {
        if *offset < log_start {
            assert!(
                !exists(&p.key),
                "object of expired offset {offset} still exists (log start {log_start})"
            );
        } else {
            assert!(
                exists(&p.key),
                "object of retained offset {offset} was deleted (log start {log_start})"
            );
        }
    }
}

#[test]
fn retention_deletes_the_objects_of_expired_segments_and_no_others() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[("WHARF_RETENTION_CHECK_INTERVAL_MS", "200")]);
    let blobs = dir.path().join("blobs");
    check_retention_lifecycle(&broker, &|key| blobs.join(key).exists());
}

#[test]
fn retention_deletes_the_s3_objects_of_expired_segments_and_no_others() {
    let endpoint = s3_endpoint();
    let bucket = format!("wharf-retention-test-{}", std::process::id());
    let rt = runtime();
    let store = rt.block_on(async {
        let mut config = S3Config::new(bucket.clone());
        config.endpoint_url = Some(endpoint.clone());
        config.region = Some("us-east-1".into());
        config.force_path_style = true;
        let store = S3BlobStore::connect(config).await.unwrap();
        store.ensure_bucket().await.unwrap();
        store
    });
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(
        dir.path(),
        &[
            ("WHARF_RETENTION_CHECK_INTERVAL_MS", "200"),
            ("WHARF_CLAIM_CHECK_STORE", "s3"),
            ("WHARF_CLAIM_CHECK_BUCKET", &bucket),
            ("WHARF_CLAIM_CHECK_ENDPOINT_URL", &endpoint),
            ("WHARF_CLAIM_CHECK_REGION", "us-east-1"),
            ("WHARF_CLAIM_CHECK_FORCE_PATH_STYLE", "true"),
        ],
    );
    check_retention_lifecycle(&broker, &|key| match rt.block_on(store.head(key)) {
        Ok(_) => true,
        Err(wharf_blob::BlobError::NotFound { .. }) => false,
        Err(e) => panic!("head {key}: {e}"),
    });
}

#[test]
fn a_10_mib_record_posted_over_http_is_offloaded_to_s3() {
    let endpoint = s3_endpoint();
    let bucket = format!("wharf-broker-test-{}", std::process::id());
    let rt = runtime();
    let store = rt.block_on(async {
        let mut config = S3Config::new(bucket.clone());
        config.endpoint_url = Some(endpoint.clone());
        config.region = Some("us-east-1".into());
        config.force_path_style = true;
        let store = S3BlobStore::connect(config).await.unwrap();
        store.ensure_bucket().await.unwrap();
        store
    });

    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(
        dir.path(),
        &[
            ("WHARF_CLAIM_CHECK_STORE", "s3"),
            ("WHARF_CLAIM_CHECK_BUCKET", &bucket),
            ("WHARF_CLAIM_CHECK_ENDPOINT_URL", &endpoint),
            ("WHARF_CLAIM_CHECK_REGION", "us-east-1"),
            ("WHARF_CLAIM_CHECK_FORCE_PATH_STYLE", "true"),
            ("WHARF_MAX_REQUEST_BYTES", "33554432"),
        ],
    );
    let api = Api::new(&broker.url);
    api.create_topic("videos", 1);
    let value = payload(10 * 1024 * 1024, 7);
    let offset = produce_bytes(&api, "videos", &value);

    let pointer = pointer_at(&api, "videos", offset);
    assert_eq!(pointer.bucket, bucket);
    assert_eq!(pointer.size, value.len() as u64);
    let size = api.describe("videos")["partition_states"][0]["size_bytes"]
        .as_u64()
        .unwrap();
    assert!(
        size < 4_096,
        "the log holds only the pointer ({size} bytes)"
    );

    // The object is in the bucket, byte-equal.
    let stored = rt.block_on(store.get(&pointer.key)).unwrap();
    assert!(
        stored.as_ref() == value.as_slice(),
        "object differs from the produced value"
    );

    // resolve=url hands out a presigned GET URL that serves the bytes.
    let (status, body) = api.fetch("videos", 0, &format!("offset={offset}&resolve=url"));
    assert_eq!(status, 200, "{body}");
    let url = body["records"][0]["value_url"].as_str().unwrap().to_owned();
    let fetched = reqwest::blocking::get(&url).unwrap().bytes().unwrap();
    assert!(
        fetched.as_ref() == value.as_slice(),
        "presigned URL served other bytes"
    );

    // A corrupted object is detected by resolve (size and sha256 are checked).
    rt.block_on(store.put(
        &pointer.key,
        bytes::Bytes::from_static(b"corrupt"),
        "application/octet-stream",
    ))
    .unwrap();
    let err = rt
        .block_on(wharf_blob::resolve(&store, &pointer))
        .unwrap_err();
    assert!(matches!(err, ResolveError::SizeMismatch { .. }), "{err}");
    let _: Value = body;
}

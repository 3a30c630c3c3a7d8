//! The batching producer against the real broker: size and linger batching, back-pressure,
//! retries that do not duplicate, per-record results, and the offload seam.
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wharf_client::wharf_proto::partitioner::partition_for_key;
use wharf_client::{
    HookError, OffloadHook, ProduceError, Producer, ProducerConfig, Record, ValueFormat,
};
use wharf_testkit::Broker;
use wharf_testkit::client::{client_for, create_topic, read_partition, read_topic};

const WAIT: Duration = Duration::from_secs(30);

fn fixed_record(i: usize) -> Record {
    // Same size for every i < 1000, so batch sizes are exact multiples.
    Record::bytes(format!("record-{i:03}-{}", "x".repeat(80)).into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_batches_are_sent_at_batch_bytes_without_waiting_for_linger() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "sized", 1).await;
    let record_bytes = fixed_record(0).encoded_bytes();
    let producer = Producer::new(
        client.clone(),
        ProducerConfig {
            batch_bytes: 10 * record_bytes,
            linger_ms: 600_000, // only size can send a batch within the test
            ..ProducerConfig::default()
        },
    );
    let mut deliveries = Vec::new();
    for i in 0..30 {
        deliveries.push(producer.send("sized", fixed_record(i)).await.unwrap());
    }
    let mut offsets = Vec::new();
    for d in deliveries {
        let done = tokio::time::timeout(WAIT, d)
            .await
            .expect("a full batch is sent without a flush")
            .unwrap();
        offsets.push(done.offset.unwrap());
    }
    assert_eq!(offsets, (0..30).collect::<Vec<u64>>());
    let stats = producer.stats();
    assert_eq!(stats.batches, 3, "{stats:?}");
    assert_eq!(stats.requests, 3, "{stats:?}");
    assert_eq!(stats.records_acked, 30);

    // A 31st record stays buffered until linger or flush.
    let d = producer.send("sized", fixed_record(30)).await.unwrap();
    producer.flush().await.unwrap();
    assert_eq!(d.await.unwrap().offset, Some(30));
    assert_eq!(producer.stats().batches, 4);
    let log = read_partition(&client, "sized", 0).await;
    assert_eq!(log.len(), 31);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_sent_one_by_one_leave_in_one_batch_after_linger_ms() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "lingering", 3).await;
    let producer = Producer::new(
        client.clone(),
        ProducerConfig {
            linger_ms: 300,
            ..ProducerConfig::default()
        },
    );
    let mut deliveries = Vec::new();
    for i in 0..5 {
        deliveries.push(producer.send("lingering", fixed_record(i)).await.unwrap());
    }
    // No flush: only the linger timer can send them.
    let mut placed = BTreeSet::new();
    let mut offsets = Vec::new();
    for d in deliveries {
        let done = tokio::time::timeout(WAIT, d)
            .await
            .expect("linger sends")
            .unwrap();
        placed.insert(done.partition);
        offsets.push(done.offset.unwrap());
    }
    assert_eq!(producer.stats().batches, 1, "one request for five sends");
    assert_eq!(
        placed.len(),
        1,
        "keyless records stick to one partition per batch"
    );
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_waits_for_buffer_space_and_fails_after_max_block_ms() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "pressure", 1).await;
    let record_bytes = fixed_record(0).encoded_bytes();
    let producer = Producer::new(
        client.clone(),
        ProducerConfig {
            max_buffered_bytes: 3 * record_bytes + record_bytes / 2,
            linger_ms: 600_000,
            max_block_ms: 600_000,
            ..ProducerConfig::default()
        },
    );
    let mut deliveries = Vec::new();
    for i in 0..3 {
        deliveries.push(producer.send("pressure", fixed_record(i)).await.unwrap());
    }
    // The buffer holds three records; the fourth send must wait (linger is ten minutes).
    let blocked = tokio::spawn({
        let producer = producer.clone();
        async move { producer.send("pressure", fixed_record(3)).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !blocked.is_finished(),
        "send waits while the buffer is full"
    );
    assert_eq!(read_partition(&client, "pressure", 0).await.len(), 0);

    // Sending the buffered batch frees its bytes, and the waiting send proceeds.
    producer.flush().await.unwrap();
    for d in deliveries {
        d.await.unwrap();
    }
    let fourth = tokio::time::timeout(WAIT, blocked)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    producer.flush().await.unwrap();
    assert_eq!(fourth.await.unwrap().offset, Some(3));

    // With a short max_block_ms, a full buffer is an error rather than an endless wait.
    let impatient = Producer::new(
        client.clone(),
        ProducerConfig {
            max_buffered_bytes: record_bytes,
            linger_ms: 600_000,
            max_block_ms: 100,
            ..ProducerConfig::default()
        },
    );
    let first = impatient.send("pressure", fixed_record(4)).await.unwrap();
    let err = impatient
        .send("pressure", fixed_record(5))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProduceError::BufferFull { waited_ms: 100 }),
        "{err}"
    );
    let big = Record::bytes(vec![7u8; 4 * record_bytes]);
    let err = impatient.send("pressure", big).await.unwrap_err();
    assert!(matches!(err, ProduceError::RecordTooLarge { .. }), "{err}");
    impatient.close().await.unwrap();
    assert_eq!(first.await.unwrap().offset, Some(4));
    let err = impatient
        .send("pressure", fixed_record(6))
        .await
        .unwrap_err();
    assert!(matches!(err, ProduceError::Closed), "{err}");
}

/// A TCP proxy to `upstream` that drops the broker's response to the first produce request
/// (`POST /v1/topics/...`): it forwards the request, waits until the response starts (the broker
/// answers only after the append, so the records are in the log), and closes both sides instead
/// of forwarding it. Everything else passes through.
async fn response_dropping_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let armed = Arc::new(AtomicBool::new(true));
    let counter = Arc::clone(&dropped);
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            let armed = Arc::clone(&armed);
            tokio::spawn(async move {
                let server = TcpStream::connect(upstream).await.unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                // Set once this connection carried the produce request whose answer we drop.
                let doomed = Arc::new(AtomicBool::new(false));
                let doomed_up = Arc::clone(&doomed);
                let upstream_copy = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let chunk = &buf[..n];
                        if chunk.windows(16).any(|w| w == b"POST /v1/topics/")
                            && armed.swap(false, Ordering::SeqCst)
                        {
                            doomed_up.store(true, Ordering::SeqCst);
                        }
                        if server_write.write_all(chunk).await.is_err() {
                            return;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if doomed.load(Ordering::SeqCst) {
                        counter.fetch_add(1, Ordering::SeqCst);
                        break; // drop the answer and the connection
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                upstream_copy.abort();
                let _ = client_write.shutdown().await;
            });
        }
    });
    (addr, dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_a_lost_response_does_not_duplicate_records() {
    let broker = Broker::start();
    let direct = client_for(&broker.url);
    create_topic(&direct, "exactly-once", 2).await;
    let (proxy, dropped) = response_dropping_proxy(broker.addr()).await;
    let producer = Producer::new(
        client_for(&format!("http://{proxy}")),
        ProducerConfig {
            linger_ms: 50,
            retry_backoff_ms: 50,
            ..ProducerConfig::default()
        },
    );
    let records: Vec<Record> = (0..20)
        .map(|i| {
            Record::json(&serde_json::json!({"n": i}))
                .unwrap()
                .with_key(format!("key-{}", i % 4))
        })
        .collect();
    let results = tokio::time::timeout(WAIT, producer.send_all("exactly-once", records))
        .await
        .expect("all records answered");
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the proxy dropped one response"
    );
    let stats = producer.stats();
    assert!(
        stats.retries >= 1,
        "the lost response was retried: {stats:?}"
    );

    let log = read_topic(&direct, "exactly-once").await;
    let mut seen: Vec<i64> = log
        .iter()
        .map(|r| {
            r.json::<serde_json::Value>().unwrap()["n"]
                .as_i64()
                .unwrap()
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        (0..20).collect::<Vec<i64>>(),
        "each record is in the log exactly once"
    );
    // The answers the producer reported are the records' real places in the log.
    for (i, result) in results.into_iter().enumerate() {
        let meta = result.unwrap();
        let stored = log
            .iter()
            .find(|r| r.partition == meta.partition && Some(r.offset) == meta.offset)
            .expect("reported offset exists");
        assert_eq!(stored.json::<serde_json::Value>().unwrap()["n"], i as i64);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_where_kafka_puts_them_and_refusals_are_per_record() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "keyed", 5).await;
    let producer = Producer::new(client.clone(), ProducerConfig::default());
    let keys = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    let mut deliveries = Vec::new();
    for k in keys {
        let r = Record::json(&serde_json::json!({"k": k}))
            .unwrap()
            .with_key(k)
            .with_header("source", "test");
        deliveries.push((k, producer.send("keyed", r).await.unwrap()));
    }
    let bad = producer
        .send("keyed", Record::bytes(&b"nowhere"[..]).with_partition(9))
        .await
        .unwrap();
    for (k, d) in deliveries {
        let meta = d.await.unwrap();
        assert_eq!(meta.partition, partition_for_key(k.as_bytes(), 5), "{k}");
        assert_eq!(meta.topic, "keyed");
    }
    let err = bad.await.unwrap_err();
    assert!(
        matches!(&err, ProduceError::Rejected { code, .. } if *code == wharf_client::ErrorCode::UnknownPartition),
        "{err}"
    );
    let log = read_topic(&client, "keyed").await;
    assert_eq!(log.len(), keys.len());
    for r in &log {
        assert_eq!(r.headers["source"], "test");
        assert_eq!(r.value_format, ValueFormat::Json);
        assert_eq!(r.partition, partition_for_key(r.key.as_deref().unwrap(), 5));
    }
}

/// Stores large values as files and sends a pointer instead, the way the claim check will.
#[derive(Debug)]
struct FileOffload {
    dir: std::path::PathBuf,
    calls: AtomicUsize,
}

impl OffloadHook for FileOffload {
    fn threshold_bytes(&self) -> usize {
        1024
    }

    fn offload<'a>(
        &'a self,
        topic: &'a str,
        record: Record,
    ) -> BoxFuture<'a, Result<Record, HookError>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            let path = self.dir.join(format!("{topic}-{n}"));
            tokio::fs::write(&path, &record.value).await?;
            let mut pointer = Record::json(&serde_json::json!({
                "path": path.display().to_string(),
                "size": record.value.len(),
            }))?
            .with_header("wharf-payload", "file");
            pointer.key = record.key;
            Ok(pointer)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_above_the_threshold_go_through_the_offload_hook_before_batching() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    create_topic(&client, "offloaded", 1).await;
    let blobs = tempfile::tempdir().unwrap();
    let hook = Arc::new(FileOffload {
        dir: blobs.path().to_path_buf(),
        calls: AtomicUsize::new(0),
    });
    let producer = Producer::with_offload(
        client.clone(),
        ProducerConfig::default(),
        Some(hook.clone()),
    );
    let big = vec![42u8; 200_000];
    let results = producer
        .send_all(
            "offloaded",
            [
                Record::bytes(&b"small"[..]),
                Record::bytes(big.clone()).with_key("k"),
            ],
        )
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(
        hook.calls.load(Ordering::SeqCst),
        1,
        "only the large value is offloaded"
    );
    // The keyless and the keyed record travel in different batches: their order is not fixed.
    let log = read_partition(&client, "offloaded", 0).await;
    assert_eq!(log.len(), 2);
    let small = log
        .iter()
        .find(|r| !r.headers.contains_key("wharf-payload"))
        .unwrap();
    let offloaded = log
        .iter()
        .find(|r| r.headers.contains_key("wharf-payload"))
        .unwrap();
    assert_eq!(small.value.as_ref(), b"small");
    assert_eq!(offloaded.headers["wharf-payload"], "file");
    assert_eq!(offloaded.key_text(), Some("k"));
    let pointer: serde_json::Value = offloaded.json().unwrap();
    let stored = std::fs::read(pointer["path"].as_str().unwrap()).unwrap();
    assert_eq!(stored, big);
}

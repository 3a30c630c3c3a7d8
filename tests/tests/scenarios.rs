//! End-to-end scenarios: the real `wharf-broker` binary, LocalStack S3 and the Lambda functions
//! under `cargo lambda watch` (cargo-lambda's local runtime), invoked through the Lambda Invoke
//! API. No mocks. Each test has its own broker (fresh data directory, free port), its own
//! topics, its own bucket and its own watch.
//!
//! Needs LocalStack (`bash infra/local/stack.sh up --localstack-only`) and cargo-lambda
//! (`bash infra/local/stack.sh install`); fails with those instructions when they are missing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use wharf_blob::ClaimCheck;
use wharf_client::Record;
use wharf_consumer::inventory::Stock;
use wharf_e2e::{Seen, read_seen};

const MIB: usize = 1024 * 1024;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// An order of the seed's demo: `{"order_id","sku","quantity"}`.
fn order(id: &str, sku: &str, quantity: i64) -> Value {
    json!({"order_id": id, "sku": sku, "quantity": quantity})
}

const SKUS: [&str; 5] = ["A-1", "B-7", "C-3", "D-9", "E-2"];
const INITIAL_STOCK: i64 = 1_000_000;

/// `producers` HTTP clients each post `requests` requests of `per_request` random orders through
/// the producer function (API Gateway v2 events). A request is retried with the same request id
/// (so the same idempotency key) until it is answered 200. Returns the expected stock. When
/// `halfway` is given, it is called once half the requests were acknowledged.
async fn post_orders(
    http: &reqwest::Client,
    watch_endpoint: &str,
    producers: usize,
    requests: usize,
    per_request: usize,
    halfway: Option<tokio::sync::oneshot::Sender<()>>,
) -> BTreeMap<String, i64> {
    let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let halfway = Arc::new(std::sync::Mutex::new(halfway));
    let total_requests = producers * requests;
    let mut tasks = Vec::new();
    for p in 0..producers {
        let http = http.clone();
        let endpoint = watch_endpoint.to_owned();
        let acked = Arc::clone(&acked);
        let halfway = Arc::clone(&halfway);
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(p as u64);
            let mut taken: BTreeMap<String, i64> = BTreeMap::new();
            let mut retries = 0u32;
            for r in 0..requests {
                let orders: Vec<Value> = (0..per_request)
                    .map(|i| {
                        let sku = SKUS[rng.random_range(0..SKUS.len())];
                        let quantity = rng.random_range(1..=5);
                        *taken.entry(sku.to_owned()).or_default() += quantity;
                        order(&format!("o-{p}-{r}-{i}"), sku, quantity)
                    })
                    .collect();
                let request_id = format!("req-{p}-{r}");
                let event = apigw_request(ORDERS, &request_id, "/order_id", &json!(orders));
                let started = Instant::now();
                loop {
                    match try_invoke(&http, &endpoint, "wharf-producer", &event).await {
                        Ok(answer) => {
                            let (status, body) = http_answer(&answer);
                            if status == 200 {
                                assert_eq!(
                                    body["results"].as_array().map(Vec::len),
                                    Some(per_request),
                                    "{body}"
                                );
                                break;
                            }
                            assert!(
                                status >= 500,
                                "request {request_id} refused: {status} {body}"
                            );
                        }
                        Err(e) => eprintln!("producer invocation failed (retrying): {e:#}"),
                    }
                    retries += 1;
                    assert!(
                        started.elapsed() < Duration::from_secs(120),
                        "request {request_id} not acknowledged within 120 s"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                let n = acked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                if n == total_requests / 2
                    && let Some(tx) = halfway.lock().expect("lock").take()
                {
                    let _ = tx.send(());
                }
            }
            (taken, retries)
        }));
    }
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    let mut retries = 0;
    for t in tasks {
        let (taken, r) = t.await.expect("producer task");
        retries += r;
        for (sku, q) in taken {
            *expected.entry(sku).or_insert(INITIAL_STOCK) -= q;
        }
    }
    println!("{total_requests} HTTP requests acknowledged ({retries} retried attempts)");
    expected
}

fn stock(dir: &std::path::Path) -> Stock {
    match std::fs::read(dir.join("stock.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).expect("stock file"),
        Err(_) => Stock::default(),
    }
}

/// Scenario 1 (and 6 with `kill_broker`): HTTP producers → producer function → broker →
/// inventory function; the stock counts are exactly what was ordered.
async fn orders_to_inventory(kill_broker: bool) {
    const PRODUCERS: usize = 4;
    const REQUESTS: usize = 10;
    const PER_REQUEST: usize = 25;
    let total = (PRODUCERS * REQUESTS * PER_REQUEST) as u64;

    let (mut broker, client, bucket) = broker_with_topic(ORDERS, 3).await;
    let state = state_dir("e2e-inventory");
    let initial = INITIAL_STOCK.to_string();
    let watch = watch(
        &broker.url,
        &bucket,
        &[
            ("WHARF_TOPIC", ORDERS),
            ("WHARF_GROUP", "inventory"),
            ("WHARF_IDLE_EXIT_MS", "1000"),
            ("WHARF_SAFETY_MARGIN_MS", "2000"),
            ("INVENTORY_STATE_DIR", path_str(state.path())),
            ("INVENTORY_INITIAL_STOCK", &initial),
        ],
    );
    let http = http();
    warm_producer(&http, &watch, ORDERS).await;
    warm_consumer(&http, &watch, "wharf-inventory").await;

    let started = Instant::now();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let producing = tokio::spawn({
        let http = http.clone();
        let endpoint = watch.endpoint.clone();
        async move { post_orders(&http, &endpoint, PRODUCERS, REQUESTS, PER_REQUEST, Some(tx)).await }
    });
    // The inventory drains while the orders arrive.
    let consuming = {
        let http = http.clone();
        let endpoint = watch.endpoint.clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            while !stop2.load(std::sync::atomic::Ordering::SeqCst) {
                if try_invoke(&http, &endpoint, "wharf-inventory", &json!({}))
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
        });
        (stop, task)
    };
    rx.await.expect("half the requests acknowledged");
    if kill_broker {
        let pid = broker.pid();
        broker.kill();
        println!("SIGKILLed the broker (pid {pid:?}) after half the requests");
        tokio::time::sleep(Duration::from_millis(500)).await;
        broker.restart();
        println!("broker restarted on the same port and data directory");
    }
    let expected = producing.await.expect("producers");
    consuming.0.store(true, std::sync::atomic::Ordering::SeqCst);
    consuming.1.await.expect("consumer loop");

    assert_eq!(
        produced_total(&client, ORDERS).await,
        total,
        "each acknowledged order is in the log once"
    );
    drain(
        &http,
        &watch,
        &client,
        "wharf-inventory",
        "inventory",
        total,
        Duration::from_secs(120),
    )
    .await;
    let s = stock(state.path());
    assert_eq!(s.orders, total, "every order applied once");
    assert_eq!(s.stock, expected, "stock counts match what was ordered");
    println!(
        "{total} orders through producer → broker → inventory in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_posted_over_http_leave_exact_inventory_stock_counts() {
    orders_to_inventory(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_killed_and_restarted_mid_stream_still_leaves_exact_stock_counts() {
    orders_to_inventory(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interleaved_producers_keep_per_key_order_as_acknowledged() {
    const TOPIC: &str = "order.order-service.status-changed";
    const PRODUCERS: usize = 4;
    const REQUESTS: usize = 15;
    const KEYS: usize = 6;

    let (broker, client, bucket) = broker_with_topic(TOPIC, 3).await;
    let state = state_dir("e2e-ordering");
    let seen_file = state.path().join("seen.jsonl");
    let watch = watch(
        &broker.url,
        &bucket,
        &[
            ("WHARF_TOPIC", TOPIC),
            ("WHARF_GROUP", "status-recorder"),
            ("WHARF_IDLE_EXIT_MS", "1000"),
            ("WHARF_MAX_RECORDS", "7"),
            ("RECORDER_FILE", path_str(&seen_file)),
        ],
    );
    let http = http();
    warm_producer(&http, &watch, TOPIC).await;
    warm_consumer(&http, &watch, "wharf-e2e-recorder").await;

    // Each producer sends, one request after the other, an event for every key (in a shuffled
    // key order); the producers run at once, so their events interleave on each partition.
    let mut tasks = Vec::new();
    for p in 0..PRODUCERS {
        let http = http.clone();
        let endpoint = watch.endpoint.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(100 + p as u64);
            let mut acks = Vec::new();
            for seq in 0..REQUESTS {
                let mut keys: Vec<usize> = (0..KEYS).collect();
                for i in (1..keys.len()).rev() {
                    keys.swap(i, rng.random_range(0..=i));
                }
                let records: Vec<Value> = keys
                    .iter()
                    .map(|k| {
                        json!({"key": format!("order-{k}"),
                               "value": {"order": format!("order-{k}"), "producer": p, "seq": seq}})
                    })
                    .collect();
                let answer = try_invoke(
                    &http,
                    &endpoint,
                    "wharf-producer",
                    &json!({"topic": TOPIC, "records": records}),
                )
                .await
                .expect("direct produce");
                let results = answer["results"].as_array().expect("results").clone();
                assert_eq!(results.len(), KEYS, "{answer}");
                for (k, r) in keys.iter().zip(results) {
                    acks.push((
                        format!("order-{k}"),
                        r["partition"].as_u64().expect("partition") as u32,
                        r["offset"].as_u64().expect("offset"),
                        p,
                        seq,
                    ));
                }
            }
            acks
        }));
    }
    // key → [(partition, offset, producer, seq)] in acknowledgement (offset) order.
    let mut acked: BTreeMap<String, Vec<(u32, u64, usize, usize)>> = BTreeMap::new();
    for t in tasks {
        for (key, partition, offset, p, seq) in t.await.expect("producer") {
            acked
                .entry(key)
                .or_default()
                .push((partition, offset, p, seq));
        }
    }
    let total = (PRODUCERS * REQUESTS * KEYS) as u64;
    for (key, events) in &mut acked {
        events.sort();
        let partitions: BTreeSet<u32> = events.iter().map(|e| e.0).collect();
        assert_eq!(partitions.len(), 1, "{key} lives on one partition");
    }

    drain(
        &http,
        &watch,
        &client,
        "wharf-e2e-recorder",
        "status-recorder",
        total,
        Duration::from_secs(120),
    )
    .await;
    let seen = read_seen(&seen_file);
    assert_eq!(seen.len() as u64, total, "each event seen once");
    let mut by_key: BTreeMap<String, Vec<(u32, u64, usize, usize)>> = BTreeMap::new();
    for s in &seen {
        let value: Value =
            serde_json::from_str(s.value.as_deref().expect("short value")).expect("JSON value");
        by_key
            .entry(s.key.clone().expect("keyed"))
            .or_default()
            .push((
                s.partition,
                s.offset,
                value["producer"].as_u64().expect("producer") as usize,
                value["seq"].as_u64().expect("seq") as usize,
            ));
    }
    assert_eq!(
        by_key, acked,
        "per key, the consumer saw the events in acknowledgement order"
    );
    // And each producer's events of a key arrive in the order it sent them.
    for (key, events) in &by_key {
        for p in 0..PRODUCERS {
            let seqs: Vec<usize> = events.iter().filter(|e| e.2 == p).map(|e| e.3).collect();
            assert_eq!(
                seqs,
                (0..REQUESTS).collect::<Vec<_>>(),
                "{key}, producer {p}"
            );
        }
    }
    let interleaved = by_key
        .values()
        .filter(|events| events.windows(2).any(|w| w[0].2 != w[1].2))
        .count();
    println!("{total} events, {KEYS} keys; {interleaved} keys had interleaved producers");
    assert!(interleaved > 0, "the producers did interleave");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consumer_killed_mid_batch_resumes_from_the_last_commit_without_losing_records() {
    const TOPIC: &str = "order.order-service.created";
    const TOTAL: u64 = 240;
    const GROUP: &str = "crash-recorder";

    let (broker, client, bucket) = broker_with_topic(TOPIC, 2).await;
    let records: Vec<Record> = (0..TOTAL)
        .map(|i| {
            Record::json(&order(&format!("o-{i}"), SKUS[i as usize % 5], 1))
                .expect("json")
                .with_key(format!("o-{i}").into_bytes())
        })
        .collect();
    client
        .produce_records(TOPIC, &records, wharf_client::Acks::All, None)
        .await
        .expect("produce");
    let state = state_dir("e2e-crash");
    let seen_file = state.path().join("seen.jsonl");
    let env = [
        ("WHARF_TOPIC", TOPIC),
        ("WHARF_GROUP", GROUP),
        ("WHARF_IDLE_EXIT_MS", "1000"),
        ("WHARF_MAX_RECORDS", "10"),
        ("RECORDER_DELAY_MS", "150"),
        ("RECORDER_FILE", path_str(&seen_file)),
    ];
    let http = http();
    let first = watch(&broker.url, &bucket, &env);
    warm_consumer(&http, &first, "wharf-e2e-recorder").await;

    // A full invocation, killed once a few batches were committed.
    let invocation = tokio::spawn({
        let http = http.clone();
        let endpoint = first.endpoint.clone();
        async move { try_invoke(&http, &endpoint, "wharf-e2e-recorder", &json!({})).await }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed_total(&client, GROUP).await < 40 {
        assert!(Instant::now() < deadline, "no progress: {}", first.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Mid-batch: the recorder sleeps 150 ms per batch before it records and the engine commits.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let killed = first.kill_function("wharf-e2e-recorder");
    assert!(!killed.is_empty(), "found the function process to kill");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_kill = committed(&client, GROUP).await;
    let seen_before = read_seen(&seen_file).len();
    println!("SIGKILLed wharf-e2e-recorder {killed:?}: committed {at_kill:?}, {seen_before} seen");
    assert!(
        at_kill.values().sum::<u64>() < TOTAL,
        "killed before the end"
    );
    // The killed invocation never answers with a summary.
    if let Ok(Ok(Ok(summary))) = tokio::time::timeout(Duration::from_secs(5), invocation).await {
        panic!("the killed invocation answered: {summary}");
    }

    // cargo lambda watch may not bring a killed function back: a fresh watch takes over, and the
    // dead invocation's member (its lease outlives the invocation) is removed so its partitions
    // are free at once.
    drop(first);
    let group = client.describe_group(GROUP).await.expect("group");
    for m in &group.members {
        client
            .leave_group(GROUP, &m.member_id)
            .await
            .expect("remove dead member");
    }
    let second = watch(&broker.url, &bucket, &env);
    let resumed_from = read_seen(&seen_file).len();
    drain(
        &http,
        &second,
        &client,
        "wharf-e2e-recorder",
        GROUP,
        TOTAL,
        Duration::from_secs(120),
    )
    .await;

    let seen = read_seen(&seen_file);
    let mut times: BTreeMap<(u32, u64), u32> = BTreeMap::new();
    for s in &seen {
        *times.entry((s.partition, s.offset)).or_default() += 1;
    }
    assert_eq!(times.len() as u64, TOTAL, "every record seen at least once");
    // The next invocation started each partition at its last committed offset.
    let high: BTreeMap<u32, u64> = client
        .describe_topic(TOPIC)
        .await
        .expect("topic")
        .partition_states
        .iter()
        .map(|p| (p.partition, p.high_watermark))
        .collect();
    for (p, offset) in &at_kill {
        let first_after = seen[resumed_from..]
            .iter()
            .filter(|s| s.partition == *p)
            .map(|s| s.offset)
            .min();
        if *offset < high[p] {
            assert_eq!(
                first_after,
                Some(*offset),
                "partition {p} resumed at its committed offset"
            );
        }
    }
    let again = times.values().filter(|n| **n > 1).count();
    println!("{TOTAL} records seen; {again} seen twice (recorded before the kill, not committed)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_mib_event_travels_through_s3_and_arrives_byte_equal() {
    const TOPIC: &str = "media.upload-service.received";
    let (broker, client, bucket) = broker_with_topic(TOPIC, 1).await;
    let mut payload = vec![0u8; 10 * MIB];
    rand::rngs::StdRng::seed_from_u64(10).fill(&mut payload[..]);
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&payload));

    // The producer side of the claim check, as the producer function runs it: the value goes to
    // the bucket, the log gets a pointer.
    let claim = ClaimCheck::new(
        Arc::new(bucket.store.clone()),
        wharf_blob::DEFAULT_OFFLOAD_THRESHOLD_BYTES,
        "wharf",
    );
    let mut produced = Vec::new();
    for (key, value) in [
        ("before", Bytes::from_static(b"small")),
        ("large", Bytes::from(payload)),
        ("after", Bytes::from_static(b"small")),
    ] {
        let record = claim
            .offload_record(
                TOPIC,
                Record::bytes(value).with_key(key.as_bytes().to_vec()),
            )
            .await
            .expect("offload");
        produced.push(record);
    }
    client
        .produce_records(TOPIC, &produced, wharf_client::Acks::All, None)
        .await
        .expect("produce");
    let log = read_partition(&client, TOPIC, 0).await;
    assert_eq!(
        log[1].headers.get("wharf-payload").map(String::as_str),
        Some("s3")
    );
    assert!(log[1].value.len() < 1024, "the log keeps a pointer only");
    let keys = bucket.keys().await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].starts_with(&format!("wharf/{TOPIC}/")), "{keys:?}");

    let state = state_dir("e2e-large");
    let seen_file = state.path().join("seen.jsonl");
    let watch = watch(
        &broker.url,
        &bucket,
        &[
            ("WHARF_TOPIC", TOPIC),
            ("WHARF_GROUP", "media"),
            ("WHARF_IDLE_EXIT_MS", "1000"),
            ("RECORDER_FILE", path_str(&seen_file)),
        ],
    );
    let http = http();
    let summary = invoke(&http, &watch, "wharf-e2e-recorder", &json!({})).await;
    assert_eq!(summary["records"], 3, "{summary}");
    let seen = read_seen(&seen_file);
    let large: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.key.as_deref() == Some("large"))
        .collect();
    assert_eq!(large.len(), 1, "{seen:?}");
    assert_eq!(large[0].len, 10 * MIB);
    assert_eq!(large[0].sha256, digest, "byte-equal after S3");
    println!(
        "10 MiB through s3://{}/{} arrived with sha256 {digest}",
        bucket.name, keys[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_message_lands_in_the_dlq_with_error_headers_and_the_group_moves_on() {
    const TOPIC: &str = "order.order-service.created";
    const GROUP: &str = "poison-recorder";
    const TOTAL: u64 = 20;
    const POISON_AT: u64 = 7;
    let (broker, client, bucket) = broker_with_topic(TOPIC, 1).await;
    let records: Vec<Record> = (0..TOTAL)
        .map(|i| {
            let value = if i == POISON_AT {
                json!({"order_id": format!("o-{i}"), "note": "POISON"})
            } else {
                order(&format!("o-{i}"), "A-1", 1)
            };
            Record::json(&value)
                .expect("json")
                .with_key(format!("o-{i}").into_bytes())
        })
        .collect();
    client
        .produce_records(TOPIC, &records, wharf_client::Acks::All, None)
        .await
        .expect("produce");
    let state = state_dir("e2e-poison");
    let seen_file = state.path().join("seen.jsonl");
    let watch = watch(
        &broker.url,
        &bucket,
        &[
            ("WHARF_TOPIC", TOPIC),
            ("WHARF_GROUP", GROUP),
            ("WHARF_IDLE_EXIT_MS", "1000"),
            ("WHARF_MAX_RECORDS", "5"),
            ("WHARF_MAX_RETRIES", "2"),
            ("WHARF_RETRY_BACKOFF_MS", "20"),
            ("RECORDER_POISON", "POISON"),
            ("RECORDER_FILE", path_str(&seen_file)),
        ],
    );
    let http = http();
    let summary = invoke(&http, &watch, "wharf-e2e-recorder", &json!({})).await;
    assert_eq!(summary["dead_lettered"], 1, "{summary}");
    assert_eq!(summary["records"], TOTAL, "{summary}");
    assert_eq!(
        committed_total(&client, GROUP).await,
        TOTAL,
        "the group moved on"
    );

    let dlq = read_partition(&client, &format!("{TOPIC}.dlq"), 0).await;
    assert_eq!(dlq.len(), 1, "{dlq:?}");
    let h = &dlq[0].headers;
    assert_eq!(h["wharf-dlq-source-topic"], TOPIC);
    assert_eq!(h["wharf-dlq-source-partition"], "0");
    assert_eq!(h["wharf-dlq-source-offset"], POISON_AT.to_string());
    assert_eq!(h["wharf-dlq-attempts"], "3", "1 attempt + 2 retries");
    assert_eq!(h["wharf-dlq-group"], GROUP);
    assert!(!h["wharf-dlq-error"].is_empty(), "{h:?}");
    assert_eq!(
        dlq[0].value, records[POISON_AT as usize].value,
        "original value"
    );
    assert_eq!(dlq[0].key, records[POISON_AT as usize].key, "original key");

    let offsets: BTreeSet<u64> = read_seen(&seen_file).iter().map(|s| s.offset).collect();
    let expected: BTreeSet<u64> = (0..TOTAL).filter(|o| *o != POISON_AT).collect();
    assert_eq!(
        offsets, expected,
        "every other record handled, those after the poison too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_200k_events_through_producer_and_consumer_functions() {
    const TOPIC: &str = "load.bench-service.generated";
    const GROUP: &str = "load-recorder";
    const INVOCATIONS: usize = 200;
    const PER_INVOCATION: usize = 1_000;
    const IN_FLIGHT: usize = 4;
    let total = (INVOCATIONS * PER_INVOCATION) as u64;

    let (broker, client, bucket) = broker_with_topic(TOPIC, 4).await;
    let state = state_dir("e2e-load");
    let seen_file = state.path().join("seen.jsonl");
    let watch = watch(
        &broker.url,
        &bucket,
        &[
            ("WHARF_TOPIC", TOPIC),
            ("WHARF_GROUP", GROUP),
            ("WHARF_IDLE_EXIT_MS", "3000"),
            ("WHARF_MAX_RECORDS", "5000"),
            ("WHARF_MAX_BATCH_BYTES", "4194304"),
            ("WHARF_POLL_WAIT_MS", "200"),
            ("RECORDER_FILE", path_str(&seen_file)),
        ],
    );
    let http = http();
    warm_producer(&http, &watch, TOPIC).await;
    warm_consumer(&http, &watch, "wharf-e2e-recorder").await;

    let started = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut producers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let http = http.clone();
        let endpoint = watch.endpoint.clone();
        let next = Arc::clone(&next);
        producers.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= INVOCATIONS {
                    return;
                }
                let sent = now_ms();
                let records: Vec<Value> = (0..PER_INVOCATION)
                    .map(|i| {
                        let id = n * PER_INVOCATION + i;
                        json!({"key": format!("k-{}", id % 997),
                               "value": {"id": id, "pad": "x".repeat(64)},
                               "timestamp": sent})
                    })
                    .collect();
                let answer = try_invoke(
                    &http,
                    &endpoint,
                    "wharf-producer",
                    &json!({"topic": TOPIC, "records": records}),
                )
                .await
                .expect("direct produce");
                assert_eq!(
                    answer["results"].as_array().map(Vec::len),
                    Some(PER_INVOCATION)
                );
            }
        }));
    }
    let consumer = tokio::spawn({
        let http = http.clone();
        let endpoint = watch.endpoint.clone();
        let client = client.clone();
        async move {
            let mut invocations = 0u32;
            while committed_total(&client, GROUP).await < total {
                invocations += 1;
                try_invoke(&http, &endpoint, "wharf-e2e-recorder", &json!({}))
                    .await
                    .expect("consumer invocation");
            }
            invocations
        }
    });
    for p in producers {
        p.await.expect("producer");
    }
    let produce_s = started.elapsed().as_secs_f64();
    let consumer_invocations = tokio::time::timeout(Duration::from_secs(300), consumer)
        .await
        .expect("consumer finished within 300 s")
        .expect("consumer");
    let total_s = started.elapsed().as_secs_f64();

    let seen = read_seen(&seen_file);
    let distinct: BTreeSet<(u32, u64)> = seen.iter().map(|s| (s.partition, s.offset)).collect();
    assert_eq!(distinct.len() as u64, total, "all 200,000 arrived");
    let mut latencies: Vec<u64> = seen
        .iter()
        .map(|s| s.seen_ms.saturating_sub(s.timestamp.max(0) as u64))
        .collect();
    latencies.sort_unstable();
    println!(
        "load: {total} events, {INVOCATIONS} producer invocations x {PER_INVOCATION} ({IN_FLIGHT} in flight), {consumer_invocations} consumer invocations"
    );
    println!(
        "load: produce {:.0} events/s ({produce_s:.1} s); end-to-end {:.0} events/s ({total_s:.1} s); {} seen twice",
        total as f64 / produce_s,
        total as f64 / total_s,
        seen.len() as u64 - total
    );
    println!(
        "load: end-to-end latency (record timestamp at send → handler) p50 {} ms, p99 {} ms, max {} ms",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0)
    );
    drop(broker);
}

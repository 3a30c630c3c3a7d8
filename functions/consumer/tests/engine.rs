//! The consumer engine against the real broker binary: Lambda-Kafka batches, per-record
//! retries, the dead-letter topic, deadlines, claim checks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wharf_blob::LocalDirBlobStore;
use wharf_client::wharf_proto::api::CreateTopic;
use wharf_client::{Client, ClientConfig, ConsumerRecord, FetchOptions, Record};
use wharf_consumer::engine::StopReason;
use wharf_consumer::inventory::Inventory;
use wharf_consumer::{
    BatchHandler, BatchResponse, ConsumerSettings, Engine, HandlerError, ItemIdentifier,
    KafkaEvent, KafkaEventExt, KafkaRecordExt,
};
use wharf_functions_shared::{ClaimCheck, Env};
use wharf_testkit::Broker;
use wharf_testkit::temp_dir;

const TOPIC: &str = "order.order-service.created";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn setup(partitions: u32) -> (Broker, Client) {
    let broker = Broker::start();
    let client = Client::new(ClientConfig::new(broker.url.clone())).unwrap();
    client
        .create_topic(&CreateTopic {
            name: TOPIC.to_owned(),
            partitions,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
            schema_validation: None,
        })
        .await
        .unwrap();
    (broker, client)
}

fn settings(extra: &[(&str, &str)]) -> ConsumerSettings {
    let mut env = vec![
        ("WHARF_TOPIC", TOPIC),
        ("WHARF_GROUP", "inventory"),
        ("WHARF_RETRY_BACKOFF_MS", "10"),
        ("WHARF_SAFETY_MARGIN_MS", "500"),
        ("WHARF_IDLE_EXIT_MS", "300"),
    ];
    env.extend_from_slice(extra);
    ConsumerSettings::from_env(&Env::from_pairs(env)).unwrap()
}

async fn produce(client: &Client, values: &[Value]) {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            Record::json(v)
                .unwrap()
                .with_key(format!("k{i}").into_bytes())
                .with_header("trace-id", format!("t{i}"))
        })
        .collect();
    client
        .produce_records(TOPIC, &records, wharf_client::Acks::All, None)
        .await
        .unwrap();
}

fn order(i: usize, sku: &str, quantity: i64) -> Value {
    json!({"order_id": format!("o-{i}"), "sku": sku, "quantity": quantity})
}

async fn all(client: &Client, topic: &str) -> Vec<ConsumerRecord> {
    let desc = client.describe_topic(topic).await.unwrap();
    let mut out = Vec::new();
    for p in 0..desc.partitions {
        out.extend(
            client
                .fetch(topic, p, FetchOptions::at(0))
                .await
                .unwrap()
                .records,
        );
    }
    out
}

/// Sum of the group's committed offsets; 0 for a group the broker does not know (it keeps no
/// group without members or commits).
async fn committed_total(client: &Client) -> u64 {
    match client.describe_group("inventory").await {
        Ok(d) => d
            .partitions
            .iter()
            .map(|p| p.committed_offset.unwrap_or(0))
            .sum(),
        Err(e) if e.code() == Some(&wharf_client::ErrorCode::UnknownGroup) => 0,
        Err(e) => panic!("{e}"),
    }
}

async fn live_members(client: &Client) -> usize {
    match client.describe_group("inventory").await {
        Ok(d) => d.members.len(),
        Err(e) if e.code() == Some(&wharf_client::ErrorCode::UnknownGroup) => 0,
        Err(e) => panic!("{e}"),
    }
}

/// Records every batch; fails the offsets in `fail` every time; optionally unreachable.
#[derive(Debug, Default)]
struct Recorder {
    batches: Mutex<Vec<KafkaEvent>>,
    fail: Vec<ItemIdentifier>,
    unavailable: bool,
}

impl BatchHandler for Recorder {
    async fn handle(&self, event: &KafkaEvent) -> Result<BatchResponse, HandlerError> {
        self.batches.lock().unwrap().push(event.clone());
        if self.unavailable {
            return Err(HandlerError::Unavailable {
                message: "connection refused".into(),
            });
        }
        Ok(BatchResponse::failed(
            event
                .iter()
                .map(ItemIdentifier::from)
                .filter(|id| self.fail.contains(id)),
        ))
    }
}

#[tokio::test]
async fn batches_have_the_lambda_kafka_shape_and_everything_handled_is_committed() {
    let (_b, client) = setup(2).await;
    produce(
        &client,
        &(0..10).map(|i| order(i, "A-1", 1)).collect::<Vec<_>>(),
    )
    .await;
    let engine = Engine::new(client.clone(), settings(&[]), None, Recorder::default());
    let summary = engine.invoke(now_ms() + 20_000, &json!({})).await.unwrap();
    assert_eq!(summary.records, 10);
    assert_eq!(
        (summary.failures, summary.dead_lettered, summary.lag),
        (0, 0, 0)
    );
    assert_eq!(summary.stopped, Some(StopReason::Idle));
    assert_eq!(committed_total(&client).await, 10);

    let batches = engine.handler().batches.lock().unwrap().clone();
    let event = serde_json::to_value(&batches[0]).unwrap();
    assert_eq!(event["eventSource"], "SelfManagedKafka");
    let (tp, records) = event["records"].as_object().unwrap().iter().next().unwrap();
    let first = &records[0];
    assert_eq!(tp, &format!("{TOPIC}-{}", first["partition"]));
    assert_eq!(first["timestampType"], "CREATE_TIME");
    let kafka: wharf_consumer::KafkaRecord = serde_json::from_value(first.clone()).unwrap();
    let value: Value = serde_json::from_slice(&kafka.value_bytes().unwrap()).unwrap();
    assert_eq!(value["sku"], "A-1");
    assert!(kafka.header("trace-id").unwrap().starts_with('t'));
    assert!(
        String::from_utf8(kafka.key_bytes().unwrap().unwrap())
            .unwrap()
            .starts_with('k')
    );

    // The group member was released: a new invocation joins at once and finds nothing.
    let again = engine.invoke(now_ms() + 20_000, &json!({})).await.unwrap();
    assert_eq!(again.records, 0);
    assert_eq!(live_members(&client).await, 0);
}

#[tokio::test]
async fn a_poison_record_is_retried_then_dead_lettered_with_its_story_and_committed_past() {
    let (_b, client) = setup(1).await;
    let mut values: Vec<Value> = (0..5).map(|i| order(i, "A-1", 2)).collect();
    values[2] = json!({"order_id": "o-2", "note": "no sku"});
    produce(&client, &values).await;
    let dir = temp_dir("inventory");
    let inventory = Inventory::new(dir.path(), 100, Duration::ZERO).unwrap();
    let engine = Engine::new(
        client.clone(),
        settings(&[("WHARF_MAX_RETRIES", "2")]),
        None,
        inventory,
    );
    let summary = engine.invoke(now_ms() + 20_000, &json!({})).await.unwrap();
    assert_eq!(
        (
            summary.records,
            summary.failures,
            summary.dead_lettered,
            summary.retries
        ),
        (5, 1, 1, 2),
        "{summary:?}"
    );
    assert_eq!(committed_total(&client).await, 5);

    let dlq = all(&client, &format!("{TOPIC}.dlq")).await;
    assert_eq!(dlq.len(), 1);
    let d = &dlq[0];
    assert_eq!(d.json::<Value>().unwrap(), values[2]);
    assert_eq!(d.key_text(), Some("k2"));
    assert_eq!(d.headers["trace-id"], "t2");
    assert_eq!(d.headers["wharf-dlq-attempts"], "3");
    assert_eq!(d.headers["wharf-dlq-source-topic"], TOPIC);
    assert_eq!(d.headers["wharf-dlq-source-partition"], "0");
    assert_eq!(d.headers["wharf-dlq-source-offset"], "2");
    assert_eq!(d.headers["wharf-dlq-group"], "inventory");
    assert!(
        d.headers["wharf-dlq-error"].contains("batchItemFailures"),
        "{:?}",
        d.headers
    );

    let stock = engine.handler().load().unwrap();
    assert_eq!(stock.stock["A-1"], 100 - 4 * 2);
    assert_eq!(stock.orders, 4);
}

#[tokio::test]
async fn a_short_deadline_commits_what_was_handled_and_nothing_more() {
    let (_b, client) = setup(1).await;
    produce(
        &client,
        &(0..40).map(|i| order(i, "B-2", 1)).collect::<Vec<_>>(),
    )
    .await;
    let dir = temp_dir("inventory");
    let inventory = Inventory::new(dir.path(), 1000, Duration::from_millis(150)).unwrap();
    let engine = Engine::new(
        client.clone(),
        settings(&[
            ("WHARF_MAX_RECORDS", "4"),
            ("WHARF_SAFETY_MARGIN_MS", "200"),
        ]),
        None,
        inventory,
    );
    // 1.2 s of budget, 150 ms per 4-record batch: well short of 40 records.
    let summary = engine.invoke(now_ms() + 1_400, &json!({})).await.unwrap();
    assert_eq!(summary.stopped, Some(StopReason::Deadline));
    let handled = engine.handler().load().unwrap().orders;
    assert!(handled > 0 && handled < 40, "handled {handled}");
    assert_eq!(summary.records, handled);
    assert_eq!(committed_total(&client).await, handled, "commit == handled");
    assert_eq!(summary.lag, 40 - handled);

    // The next invocations continue from the commit; every order is counted exactly once.
    for _ in 0..10 {
        if committed_total(&client).await == 40 {
            break;
        }
        engine.invoke(now_ms() + 30_000, &json!({})).await.unwrap();
    }
    let stock = engine.handler().load().unwrap();
    assert_eq!((stock.orders, stock.stock["B-2"]), (40, 960));
}

#[tokio::test]
async fn claim_checks_are_resolved_before_the_handler_and_a_missing_object_is_dead_lettered() {
    let (_b, client) = setup(1).await;
    let blobs = temp_dir("blobs");
    let store = Arc::new(LocalDirBlobStore::open(blobs.path()).unwrap());
    let claim = ClaimCheck::new(store.clone(), 64, "wharf");
    let big = order(0, &"S".repeat(200), 1);
    let records = vec![
        claim
            .offload_record(TOPIC, Record::json(&big).unwrap())
            .await
            .unwrap(),
        claim
            .offload_record(
                TOPIC,
                Record::json(&order(1, "gone", 1))
                    .unwrap()
                    .with_header("pad", "x".repeat(80)),
            )
            .await
            .unwrap(),
    ];
    // The second one's value is small: make it a pointer to an object that does not exist.
    let mut dangling = claim
        .offload_record(TOPIC, Record::bytes(vec![7u8; 100]))
        .await
        .unwrap();
    let pointer = wharf_blob::Pointer::from_json(&dangling.value).unwrap();
    wharf_blob::BlobStore::delete(store.as_ref(), &pointer.key)
        .await
        .unwrap();
    dangling.key = Some("dangling".into());
    let mut all_records = records;
    all_records.push(dangling);
    client
        .produce_records(TOPIC, &all_records, wharf_client::Acks::All, None)
        .await
        .unwrap();

    let engine = Engine::new(
        client.clone(),
        settings(&[("WHARF_MAX_RETRIES", "1")]),
        Some(claim),
        Recorder::default(),
    );
    let summary = engine.invoke(now_ms() + 20_000, &json!({})).await.unwrap();
    assert_eq!(
        (summary.records, summary.dead_lettered),
        (3, 1),
        "{summary:?}"
    );
    let batches = engine.handler().batches.lock().unwrap().clone();
    let first = batches[0].iter().find(|r| r.offset == 0).unwrap();
    let value: Value = serde_json::from_slice(&first.value_bytes().unwrap()).unwrap();
    assert_eq!(value, big, "the handler sees the payload, not the pointer");
    assert_eq!(first.header("wharf-payload"), None);
    let dlq = all(&client, &format!("{TOPIC}.dlq")).await;
    assert_eq!(dlq.len(), 1);
    assert_eq!(
        dlq[0].headers["wharf-payload"], "s3",
        "the original pointer is dead-lettered"
    );
    assert!(
        dlq[0].headers["wharf-dlq-error"].contains("not found"),
        "{:?}",
        dlq[0].headers
    );
}

#[tokio::test]
async fn an_unavailable_handler_commits_nothing_and_fails_the_invocation() {
    let (_b, client) = setup(1).await;
    produce(&client, &[order(0, "A", 1), order(1, "A", 1)]).await;
    let handler = Recorder {
        unavailable: true,
        ..Recorder::default()
    };
    let engine = Engine::new(client.clone(), settings(&[]), None, handler);
    let err = engine
        .invoke(now_ms() + 20_000, &json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
    assert_eq!(committed_total(&client).await, 0);
    assert!(all(&client, &format!("{TOPIC}.dlq")).await.is_empty());
    assert_eq!(live_members(&client).await, 0, "lease released");
}

#[tokio::test]
async fn a_record_failing_once_is_retried_alone_and_then_committed() {
    let (_b, client) = setup(1).await;
    produce(
        &client,
        &(0..3).map(|i| order(i, "A", 1)).collect::<Vec<_>>(),
    )
    .await;
    #[derive(Debug, Default)]
    struct FlakyOnce(Mutex<Vec<Vec<i64>>>);
    impl BatchHandler for FlakyOnce {
        async fn handle(&self, event: &KafkaEvent) -> Result<BatchResponse, HandlerError> {
            let offsets: Vec<i64> = event.iter().map(|r| r.offset).collect();
            let first_call = self.0.lock().unwrap().is_empty();
            self.0.lock().unwrap().push(offsets);
            Ok(if first_call {
                BatchResponse::failed([ItemIdentifier {
                    partition: 0,
                    offset: 1,
                }])
            } else {
                BatchResponse::ok()
            })
        }
    }
    let engine = Engine::new(client.clone(), settings(&[]), None, FlakyOnce::default());
    let summary = engine.invoke(now_ms() + 20_000, &json!({})).await.unwrap();
    assert_eq!(
        (
            summary.records,
            summary.failures,
            summary.dead_lettered,
            summary.retries
        ),
        (3, 1, 0, 1)
    );
    assert_eq!(
        *engine.handler().0.lock().unwrap(),
        vec![vec![0, 1, 2], vec![1]]
    );
    assert_eq!(committed_total(&client).await, 3);
}

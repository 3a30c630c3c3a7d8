//! The consumer functions under `cargo lambda watch` (cargo-lambda's local Lambda runtime),
//! invoked through the Lambda Invoke API. Needs cargo-lambda in infra/local/.tools/lambda-venv
//! (installed by `bash infra/local/stack.sh install`); fails with that instruction when missing.

use std::time::Duration;

use serde_json::{Value, json};
use wharf_client::wharf_proto::api::CreateTopic;
use wharf_client::{Client, ClientConfig, FetchOptions, Record};
use wharf_consumer::inventory::Stock;
use wharf_testkit::temp_dir;
use wharf_testkit::{Broker, LambdaWatch};

const TOPIC: &str = "order.order-service.created";

async fn invoke(
    http: &reqwest::Client,
    watch: &LambdaWatch,
    function: &str,
    payload: &Value,
) -> Value {
    let url = watch.invoke_url(function);
    let response = http.post(&url).json(payload).send().await.expect("invoke");
    let status = response.status();
    let function_error = response.headers().get("x-amz-function-error").cloned();
    let body: Value = response.json().await.expect("JSON answer");
    assert!(
        status.is_success() && function_error.is_none(),
        "invoke {function}: {status} {function_error:?} {body}\nlog:\n{}",
        watch.log()
    );
    body
}

/// A broker with the topic holding `n` orders of SKU `A-1` (quantity 1) and a poison record
/// (no SKU) at offset `poison_at`.
async fn broker_with_orders(n: usize, poison_at: usize) -> (Broker, Client) {
    let broker = Broker::start();
    let client = Client::new(ClientConfig::new(broker.url.clone())).unwrap();
    client
        .create_topic(&CreateTopic {
            name: TOPIC.to_owned(),
            partitions: 1,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
            schema_validation: None,
        })
        .await
        .unwrap();
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let value = if i == poison_at {
                json!({"order_id": format!("o-{i}"), "note": "poison: no sku"})
            } else {
                json!({"order_id": format!("o-{i}"), "sku": "A-1", "quantity": 1})
            };
            Record::json(&value)
                .unwrap()
                .with_key(format!("o-{i}").into_bytes())
        })
        .collect();
    client
        .produce_records(TOPIC, &records, wharf_client::Acks::All, None)
        .await
        .unwrap();
    (broker, client)
}

async fn committed(client: &Client) -> u64 {
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

fn stock(dir: &wharf_testkit::tempfile::TempDir) -> Stock {
    match std::fs::read(dir.path().join("stock.json")) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
        Err(_) => Stock::default(),
    }
}

async fn dlq(client: &Client) -> Vec<wharf_client::ConsumerRecord> {
    client
        .fetch(&format!("{TOPIC}.dlq"), 0, FetchOptions::at(0))
        .await
        .unwrap()
        .records
}

#[tokio::test]
async fn inventory_under_cargo_lambda_commits_only_what_a_short_deadline_allowed_and_dead_letters_the_poison()
 {
    let (broker, client) = broker_with_orders(30, 28).await;
    let state = temp_dir("inventory-state");
    let watch = LambdaWatch::start(&[
        ("WHARF_URL", &broker.url),
        ("WHARF_TOPIC", TOPIC),
        ("WHARF_GROUP", "inventory"),
        ("WHARF_MAX_RETRIES", "2"),
        ("WHARF_RETRY_BACKOFF_MS", "20"),
        ("WHARF_MAX_RECORDS", "4"),
        ("WHARF_SAFETY_MARGIN_MS", "200"),
        ("WHARF_IDLE_EXIT_MS", "500"),
        ("INVENTORY_STATE_DIR", state.path().to_str().unwrap()),
        ("INVENTORY_DELAY_MS", "100"),
    ]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap();

    // Warm up (the first invocation compiles the function); this one has nothing to hand out
    // because its budget ends before the first poll.
    let warm = invoke(
        &http,
        &watch,
        "wharf-inventory",
        &json!({"max_duration_ms": 0}),
    )
    .await;
    assert_eq!(warm["records"], 0, "{warm}");

    // A short deadline: 700 ms of budget at 100 ms per 4-record batch is at most 7 batches
    // (offsets 0..=27), so it stops for the deadline before it meets the poison at 28.
    let short = invoke(
        &http,
        &watch,
        "wharf-inventory",
        &json!({"max_duration_ms": 700}),
    )
    .await;
    let handled = stock(&state).orders;
    assert_eq!(short["stopped"], "deadline", "{short}");
    assert!(handled > 0 && handled < 29, "handled {handled}: {short}");
    assert_eq!(short["records"], handled, "{short}");
    assert_eq!(
        committed(&client).await,
        handled,
        "committed exactly what was handled"
    );
    assert!(dlq(&client).await.is_empty());

    // Full invocations drain the rest; the poison record ends in the DLQ after 1 + 2 attempts.
    for _ in 0..5 {
        if committed(&client).await == 30 {
            break;
        }
        invoke(&http, &watch, "wharf-inventory", &json!({})).await;
    }
    assert_eq!(committed(&client).await, 30);
    let dead = dlq(&client).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].headers["wharf-dlq-source-offset"], "28");
    assert_eq!(dead[0].headers["wharf-dlq-attempts"], "3");
    let s = stock(&state);
    assert_eq!(
        (s.orders, s.stock["A-1"]),
        (29, 1000 - 29),
        "each order counted once"
    );

    let init = watch.cold_start_init_us();
    assert!(!init.is_empty(), "no cold-start line in:\n{}", watch.log());
    println!("wharf-inventory cold start init under cargo lambda watch: {init:?} us");
    for line in watch.lines_with("invocation started").iter().take(1) {
        println!("deadline given by cargo lambda watch: {line}");
    }
}

#[tokio::test]
async fn target_mode_invokes_a_second_local_function_and_honours_its_batch_item_failures() {
    let (broker, client) = broker_with_orders(12, 5).await;
    let state = temp_dir("inventory-msk-state");
    let watch = LambdaWatch::start(&[
        ("WHARF_URL", &broker.url),
        ("WHARF_TOPIC", TOPIC),
        ("WHARF_GROUP", "inventory"),
        ("WHARF_MAX_RETRIES", "1"),
        ("WHARF_RETRY_BACKOFF_MS", "20"),
        ("WHARF_IDLE_EXIT_MS", "500"),
        ("WHARF_TARGET_FUNCTION", "wharf-inventory-msk"),
        ("WHARF_LAMBDA_ENDPOINT", "{endpoint}"),
        ("INVENTORY_STATE_DIR", state.path().to_str().unwrap()),
    ]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap();
    // Compile the target first, so that the consumer's first call does not wait for a build.
    invoke(
        &http,
        &watch,
        "wharf-inventory-msk",
        &json!({"eventSource":"SelfManagedKafka","bootstrapServers":"","records":{}}),
    )
    .await;

    let summary = invoke(&http, &watch, "wharf-consumer", &json!({})).await;
    assert_eq!(summary["records"], 12, "{summary}");
    assert_eq!(summary["dead_lettered"], 1, "{summary}");
    assert_eq!(summary["failures"], 1, "{summary}");
    assert_eq!(committed(&client).await, 12);
    let dead = dlq(&client).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].headers["wharf-dlq-source-offset"], "5");
    assert_eq!(dead[0].headers["wharf-dlq-attempts"], "2");
    let s = stock(&state);
    assert_eq!((s.orders, s.stock["A-1"]), (11, 1000 - 11));
    let init = watch.cold_start_init_us();
    println!("wharf-consumer (target mode) cold start init under cargo lambda watch: {init:?} us");
}

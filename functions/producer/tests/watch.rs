//! The producer under `cargo lambda watch` (cargo-lambda's local Lambda runtime), invoked through
//! the Lambda Invoke API. Needs cargo-lambda in infra/local/.tools/lambda-venv (installed by
//! `bash infra/local/stack.sh install`); fails with that instruction when it is missing.

use std::time::Duration;

use serde_json::{Value, json};
use wharf_client::wharf_proto::api::CreateTopic;
use wharf_client::{Client, ClientConfig, FetchOptions};
use wharf_testkit::{Broker, LambdaWatch};

const TOPIC: &str = "order.order-service.created";

async fn invoke(http: &reqwest::Client, url: &str, payload: &Value) -> Value {
    let response = http.post(url).json(payload).send().await.expect("invoke");
    let status = response.status();
    let function_error = response.headers().get("x-amz-function-error").cloned();
    let body: Value = response.json().await.expect("JSON answer");
    assert!(
        status.is_success() && function_error.is_none(),
        "invoke {url}: {status} {function_error:?} {body}"
    );
    body
}

#[tokio::test]
async fn sqs_event_invoked_twice_under_cargo_lambda_writes_each_record_once() {
    let broker = Broker::start();
    let client = Client::new(ClientConfig::new(broker.url.clone())).unwrap();
    client
        .create_topic(&CreateTopic {
            name: TOPIC.to_owned(),
            partitions: 2,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
            schema_validation: None,
        })
        .await
        .unwrap();
    let watch = LambdaWatch::start(&[("WHARF_URL", &broker.url), ("WHARF_TOPIC", TOPIC)]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap();
    let event: Value = serde_json::from_str(include_str!("fixtures/sqs.json")).unwrap();
    let url = watch.invoke_url("wharf-producer");
    let expected =
        json!({"batchItemFailures":[{"itemIdentifier":"9b2e8a3c-4f1d-4e3b-a8c2-0d5e7f6a1b2c"}]});
    assert_eq!(
        invoke(&http, &url, &event).await,
        expected,
        "log:\n{}",
        watch.log()
    );
    assert_eq!(invoke(&http, &url, &event).await, expected);

    let mut total = 0;
    for p in 0..2 {
        total += client
            .fetch(TOPIC, p, FetchOptions::at(0))
            .await
            .unwrap()
            .records
            .len();
    }
    assert_eq!(
        total, 2,
        "two messages produced once each despite two invocations"
    );
    let init = watch.cold_start_init_us();
    assert!(!init.is_empty(), "no cold-start line in:\n{}", watch.log());
    println!("wharf-producer cold start init under cargo lambda watch: {init:?} us");
}

//! The producer handler driven by AWS's documented sample events (tests/fixtures) against the
//! real broker binary.

use std::sync::Arc;

use serde_json::{Value, json};
use wharf_blob::{LocalDirBlobStore, Pointer};
use wharf_client::wharf_proto::api::SchemaValidation;
use wharf_client::{Client, ClientConfig, ConsumerRecord, ErrorCode};
use wharf_functions_shared::{ClaimCheck, Env};
use wharf_producer::{Handler, Invocation, ProducerConfig, ProducerError};
use wharf_testkit::client::{
    broker_with_topics, create_validated_topic, read_topic, register_schema,
};
use wharf_testkit::{Broker, temp_dir};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read fixture"))
        .expect("fixture is JSON")
}

fn inv(id: &str) -> Invocation {
    Invocation {
        request_id: id.to_owned(),
    }
}

struct Setup {
    broker: Broker,
    client: Client,
}

impl Setup {
    async fn new(topics: &[(&str, u32)]) -> Self {
        let (broker, client) = broker_with_topics(topics).await;
        Self { broker, client }
    }

    /// A topic validating JSON values against `schema`, registered as `<topic>-value`; answers
    /// the schema's id.
    async fn json_validated(&self, topic: &str, schema: &str) -> u32 {
        create_validated_topic(&self.client, topic, SchemaValidation::Json).await;
        register_schema(&self.broker.url, &format!("{topic}-value"), "JSON", schema).await
    }

    fn handler(&self, env: &[(&str, &str)], claim: Option<ClaimCheck>) -> Handler<Client> {
        let config = ProducerConfig::from_env(&Env::from_pairs(env.iter().copied())).unwrap();
        Handler::new(self.client.clone(), config, claim)
    }

    /// Every record of the topic, all partitions.
    async fn records(&self, topic: &str) -> Vec<ConsumerRecord> {
        read_topic(&self.client, topic).await
    }
}

fn body_of(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().expect("body is a string")).expect("JSON body")
}

#[tokio::test]
async fn http_api_v2_array_becomes_records_keyed_by_pointer_and_a_retry_appends_nothing() {
    let s = Setup::new(&[("order.order-service.created", 3)]).await;
    let h = s.handler(&[], None);
    let event = fixture("apigw-v2.json");

    let first = h.handle(event.clone(), &inv("r1")).await.unwrap();
    assert_eq!(first["statusCode"], 200, "{first}");
    let body = body_of(&first);
    assert_eq!(body["topic"], "order.order-service.created");
    assert_eq!(body["results"].as_array().unwrap().len(), 3, "{body}");

    // API Gateway retries the same request id: the broker replays the first answer.
    let again = h.handle(event, &inv("r2")).await.unwrap();
    let again_body = body_of(&again);
    assert_eq!(again_body["results"], body["results"]);
    assert_eq!(again_body["replayed"], true);

    let records = s.records("order.order-service.created").await;
    assert_eq!(records.len(), 3);
    let mut keys: Vec<_> = records
        .iter()
        .map(|r| r.key_text().unwrap().to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["o-1", "o-2", "o-3"]);
    let o2 = records
        .iter()
        .find(|r| r.key_text() == Some("o-2"))
        .unwrap();
    assert_eq!(
        o2.json::<Value>().unwrap(),
        json!({"order_id":"o-2","sku":"B-7","quantity":1})
    );
    assert_eq!(o2.headers["wharf-source"], "http");
}

#[tokio::test]
async fn function_url_base64_text_body_becomes_one_bytes_record_on_the_topic_named_by_the_path() {
    let s = Setup::new(&[("audit.uploads.raw", 1)]).await;
    let h = s.handler(&[], None);
    let response = h
        .handle(fixture("function-url.json"), &inv("r"))
        .await
        .unwrap();
    assert_eq!(response["statusCode"], 200, "{response}");
    let records = s.records("audit.uploads.raw").await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        records[0].value_text(),
        Some("temperature=21.5 humidity=40")
    );
    assert_eq!(records[0].key_text(), Some("device-17"));
    assert_eq!(records[0].headers["content-type"], "text/plain");
}

#[tokio::test]
async fn http_failures_are_proper_error_responses() {
    let s = Setup::new(&[("order.order-service.created", 1)]).await;
    let h = s.handler(&[], None);
    let base = fixture("apigw-v2.json");

    let mut unknown = base.clone();
    unknown["pathParameters"]["topic"] = json!("no.such.topic");
    unknown["requestContext"]["requestId"] = json!("u1");
    let r = h.handle(unknown, &inv("r")).await.unwrap();
    assert_eq!(r["statusCode"], 404, "{r}");
    assert_eq!(body_of(&r)["error"]["code"], "unknown_topic");

    let mut bad_json = base.clone();
    bad_json["body"] = json!("{not json");
    bad_json["requestContext"]["requestId"] = json!("u2");
    let r = h.handle(bad_json, &inv("r")).await.unwrap();
    assert_eq!(r["statusCode"], 400, "{r}");
    assert_eq!(body_of(&r)["error"]["code"], "invalid_json");

    let mut no_key = base.clone();
    no_key["body"] = json!(r#"[{"order_id":"a"},{"sku":"no id"}]"#);
    no_key["requestContext"]["requestId"] = json!("u3");
    let r = h.handle(no_key, &inv("r")).await.unwrap();
    assert_eq!(r["statusCode"], 400, "{r}");
    assert!(
        body_of(&r)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("element 1"),
        "{r}"
    );

    let mut get = base.clone();
    get["requestContext"]["http"]["method"] = json!("GET");
    let r = h.handle(get, &inv("r")).await.unwrap();
    assert_eq!(r["statusCode"], 405, "{r}");

    // Nothing above appended anything.
    assert!(s.records("order.order-service.created").await.is_empty());

    // A broker that does not answer is a 502 marked retriable.
    let port = wharf_testkit::free_port();
    let dead = Client::new(ClientConfig::new(format!("http://127.0.0.1:{port}"))).unwrap();
    let config = ProducerConfig::from_env(&Env::from_pairs([])).unwrap();
    let r = Handler::new(dead, config, None)
        .handle(base, &inv("r"))
        .await
        .unwrap();
    assert_eq!(r["statusCode"], 502, "{r}");
    assert_eq!(body_of(&r)["error"]["retriable"], true);
}

#[tokio::test]
async fn sqs_batch_reports_only_the_failed_message_and_redelivery_never_duplicates() {
    let s = Setup::new(&[("order.order-service.created", 2)]).await;
    let h = s.handler(&[("WHARF_TOPIC", "order.order-service.created")], None);
    let event = fixture("sqs.json");
    for attempt in 0..2 {
        let answer = h.handle(event.clone(), &inv("r")).await.unwrap();
        // The third message names a topic that does not exist: only it is retried by SQS.
        assert_eq!(
            answer,
            json!({"batchItemFailures":[{"itemIdentifier":"9b2e8a3c-4f1d-4e3b-a8c2-0d5e7f6a1b2c"}]}),
            "attempt {attempt}"
        );
    }
    let records = s.records("order.order-service.created").await;
    assert_eq!(
        records.len(),
        2,
        "two messages, produced once each: {records:?}"
    );
    let first = records
        .iter()
        .find(|r| {
            r.headers.get("sqs-message-id").map(String::as_str)
                == Some("059f36b4-87a3-44ab-83d2-661975830a7d")
        })
        .unwrap();
    assert_eq!(first.key_text(), Some("customer-9"));
    assert_eq!(first.headers["trace-id"], "abc-123");
    assert!(!first.headers.contains_key("wharf-key"));
    assert_eq!(first.timestamp_ms, 1_545_082_649_183);
    let text = records
        .iter()
        .find(|r| r.value_text() == Some("Test message."))
        .unwrap();
    assert_eq!(text.key, None);
}

#[tokio::test]
async fn sqs_fifo_keys_by_group_and_fails_the_rest_of_the_batch_after_a_failure() {
    let s = Setup::new(&[("order.order-service.created", 2)]).await;
    let h = s.handler(&[("WHARF_TOPIC", "order.order-service.created")], None);
    let answer = h.handle(fixture("sqs-fifo.json"), &inv("r")).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let records = s.records("order.order-service.created").await;
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.key_text() == Some("customer-1")));
    let steps: Vec<i64> = records
        .iter()
        .map(|r| r.json::<Value>().unwrap()["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2], "group order kept");

    let wrong = s.handler(&[("WHARF_TOPIC", "missing.topic")], None);
    let answer = wrong
        .handle(fixture("sqs-fifo.json"), &inv("r"))
        .await
        .unwrap();
    assert_eq!(
        answer["batchItemFailures"].as_array().unwrap().len(),
        2,
        "{answer}"
    );
}

#[tokio::test]
async fn s3_notification_becomes_a_link_record_once() {
    let s = Setup::new(&[("storage.s3.object-created", 1)]).await;
    let h = s.handler(&[("WHARF_TOPIC", "storage.s3.object-created")], None);
    let event = fixture("s3-put.json");
    let first = h.handle(event.clone(), &inv("r1")).await.unwrap();
    let second = h.handle(event, &inv("r2")).await.unwrap();
    assert_eq!(first["results"], second["results"]);
    let records = s.records("storage.s3.object-created").await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({
            "bucket": "DOC-EXAMPLE-BUCKET",
            "key": "uploads/my photo(1).jpg",
            "size": 1305107,
            "etag": "b21b84d653bb07b05b1e6b33684dc11b",
            "event_name": "ObjectCreated:Put",
            "event_time": "2019-09-03T19:37:27.192+00:00",
            "sequencer": "0C0F6F405D6ED209E1",
            "version_id": null,
            "region": "us-east-1"
        })
    );
    assert_eq!(
        r.key_text(),
        Some("DOC-EXAMPLE-BUCKET/uploads/my photo(1).jpg")
    );
    assert_eq!(r.headers["s3-event-name"], "ObjectCreated:Put");

    let test_event = json!({"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2014-10-13T15:57:02.089Z","Bucket":"b","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw"});
    h.handle(test_event, &inv("r3")).await.unwrap();
    assert_eq!(s.records("storage.s3.object-created").await.len(), 1);
}

#[tokio::test]
async fn eventbridge_detail_becomes_the_value_with_detail_type_as_header() {
    let s = Setup::new(&[("ops.ec2.state-changed", 1)]).await;
    let h = s.handler(
        &[
            ("WHARF_TOPIC", "ops.ec2.state-changed"),
            ("WHARF_KEY_POINTER", "/instance-id"),
        ],
        None,
    );
    let event = fixture("eventbridge.json");
    h.handle(event.clone(), &inv("r1")).await.unwrap();
    h.handle(event, &inv("r2")).await.unwrap();
    let records = s.records("ops.ec2.state-changed").await;
    assert_eq!(records.len(), 1, "retried event appended once");
    let r = &records[0];
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"instance-id":"i-1234567890abcdef0","state":"terminated"})
    );
    assert_eq!(
        r.headers["detail-type"],
        "EC2 Instance State-change Notification"
    );
    assert_eq!(r.headers["source"], "aws.ec2");
    assert_eq!(r.key_text(), Some("i-1234567890abcdef0"));
    assert_eq!(r.timestamp_ms, 1_513_968_228_000);
}

#[tokio::test]
async fn direct_invocation_produces_wire_records_and_a_lambda_retry_appends_nothing() {
    let s = Setup::new(&[("order.order-service.created", 2)]).await;
    let h = s.handler(&[], None);
    let event = fixture("direct.json");
    let first = h.handle(event.clone(), &inv("req-1")).await.unwrap();
    assert_eq!(first["results"].as_array().unwrap().len(), 2, "{first}");
    let retry = h.handle(event.clone(), &inv("req-1")).await.unwrap();
    assert_eq!(retry["replayed"], true);
    assert_eq!(s.records("order.order-service.created").await.len(), 2);
    // A new invocation (another request id) is new data.
    h.handle(event, &inv("req-2")).await.unwrap();
    let records = s.records("order.order-service.created").await;
    assert_eq!(records.len(), 4);
    let bytes = records
        .iter()
        .find(|r| r.value.as_ref() == b"hello")
        .unwrap();
    assert_eq!(bytes.partition, 1);
    assert_eq!(bytes.key.as_deref(), Some(&[0u8, 1][..]));
    assert_eq!(bytes.timestamp_ms, 1_732_240_000_000);

    let bad = json!({"topic":"order.order-service.created","records":[{"key":"k"}]});
    let err = h.handle(bad, &inv("req-3")).await.unwrap_err();
    assert!(matches!(err, ProducerError::InvalidEvent { .. }), "{err}");
}

#[tokio::test]
async fn values_above_the_threshold_are_offloaded_and_the_log_keeps_a_verifiable_pointer() {
    let s = Setup::new(&[("media.uploads.large", 1)]).await;
    let blobs = temp_dir("wharf-producer-blobs");
    let store = Arc::new(LocalDirBlobStore::open(blobs.path()).unwrap());
    let claim = ClaimCheck::new(store.clone(), 1024, "wharf");
    let h = s.handler(&[], Some(claim));
    let big = "x".repeat(5000);
    let event = json!({"topic":"media.uploads.large","records":[
        {"key":"big","value":{"blob": big}},
        {"key":"small","value":{"n":1}}
    ]});
    h.handle(event, &inv("req")).await.unwrap();
    let records = s.records("media.uploads.large").await;
    assert_eq!(records.len(), 2);
    let pointer_record = records
        .iter()
        .find(|r| r.key_text() == Some("big"))
        .unwrap();
    assert_eq!(pointer_record.headers["wharf-payload"], "s3");
    let pointer = Pointer::from_json(&pointer_record.value).unwrap();
    assert_eq!(pointer.content_type, "application/json");
    let value = wharf_blob::resolve(store.as_ref(), &pointer).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&value).unwrap()["blob"]
            .as_str()
            .unwrap()
            .len(),
        5000
    );
    let small = records
        .iter()
        .find(|r| r.key_text() == Some("small"))
        .unwrap();
    assert!(!small.headers.contains_key("wharf-payload"));
}

#[tokio::test]
async fn unrecognised_events_are_errors_naming_the_fields() {
    let s = Setup::new(&[]).await;
    let h = s.handler(&[], None);
    let err = h
        .handle(json!({"hello":"world"}), &inv("r"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProducerError::UnrecognisedEvent { .. }));
    assert!(err.to_string().contains("hello"), "{err}");
}

/// The shape of the order messages in `sqs.json`.
const ORDER_SCHEMA: &str = r#"{"type":"object","properties":{"order_id":{"type":"string"},"sku":{"type":"string"},"quantity":{"type":"integer","minimum":1}},"required":["order_id","sku","quantity"]}"#;

#[tokio::test]
async fn sqs_messages_that_fail_the_topic_schema_are_batch_item_failures_and_the_rest_are_written()
{
    let s = Setup::new(&[]).await;
    let id = s.json_validated("orders.validated", ORDER_SCHEMA).await;
    let h = s.handler(&[("WHARF_TOPIC", "orders.validated")], None);
    // sqs.json's messages, all to WHARF_TOPIC: a valid order, a text body (not an object) and
    // an order without `sku`.
    let mut event = fixture("sqs.json");
    let third = &mut event["Records"][2];
    third["messageAttributes"] = json!({});
    assert_eq!(third["body"], r#"{"order_id":"o-11"}"#);
    for attempt in 0..2 {
        let answer = h.handle(event.clone(), &inv("r")).await.unwrap();
        assert_eq!(
            answer,
            json!({"batchItemFailures":[
                {"itemIdentifier":"2e1424d4-f796-459a-8184-9c92662be6da"},
                {"itemIdentifier":"9b2e8a3c-4f1d-4e3b-a8c2-0d5e7f6a1b2c"}
            ]}),
            "attempt {attempt}"
        );
    }
    let records = s.records("orders.validated").await;
    assert_eq!(records.len(), 1, "the valid message, once: {records:?}");
    assert_eq!(
        records[0].headers["sqs-message-id"],
        "059f36b4-87a3-44ab-83d2-661975830a7d"
    );
    assert_eq!(records[0].headers["wharf-schema-id"], id.to_string());
}

#[tokio::test]
async fn direct_invocation_reports_each_schema_violation_in_its_record_result() {
    let s = Setup::new(&[]).await;
    let id = s.json_validated("orders.validated", ORDER_SCHEMA).await;
    let h = s.handler(&[], None);
    let event = json!({"topic":"orders.validated","records":[
        {"value":{"order_id":"o-1","sku":"A","quantity":2}},
        {"value":{"order_id":"o-2","sku":"A","quantity":0}},
        {"value":null}
    ]});
    let answer = h.handle(event, &inv("req-1")).await.unwrap();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 3, "{answer}");
    assert!(results[0].get("error").is_none(), "{answer}");
    assert!(
        results[2].get("error").is_none(),
        "a tombstone passes: {answer}"
    );
    let error = &results[1]["error"];
    assert_eq!(
        error["code"],
        ErrorCode::SchemaViolation.as_str(),
        "{answer}"
    );
    assert_eq!(
        error["details"],
        json!({"subject":"orders.validated-value","schema_id":id,"version":1,"pointer":"/quantity"})
    );
    assert_eq!(s.records("orders.validated").await.len(), 2);
}

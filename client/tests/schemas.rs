//! Topics that validate records against their schemas, through the client against the real
//! broker: a refused record's `schema_violation` reaches the caller with the schema and the
//! failing place, in both request encodings and through the batching producer, and the other
//! records of its batch are written.

use serde_json::json;
use wharf_client::wharf_proto::api::{SchemaValidation, SchemaViolationDetails};
use wharf_client::{
    Acks, Client, Encoding, ErrorCode, ProduceAnswer, Producer, ProducerConfig, Record,
};
use wharf_testkit::Broker;
use wharf_testkit::client::{client_for, create_validated_topic, read_topic, register_schema};

const ORDER_SCHEMA: &str = r#"{"type":"object","properties":{"id":{"type":"integer"},"qty":{"type":"integer","minimum":1}},"required":["id","qty"]}"#;
/// A record of one `long` field: its datum is the zigzag varint of the number.
const COUNT_AVRO: &str =
    r#"{"type":"record","name":"Count","fields":[{"name":"n","type":"long"}]}"#;

fn violation(answer: &ProduceAnswer, index: usize) -> SchemaViolationDetails {
    let error = answer.results[index]
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("record {index} was refused: {answer:?}"));
    assert_eq!(error.error_code(), ErrorCode::SchemaViolation, "{error:?}");
    error
        .schema_violation()
        .expect("a schema_violation carries its details")
}

/// Confluent's wire format: magic byte 0, the schema id big-endian, the Avro datum.
fn wire(id: u32, datum: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(datum);
    out
}

async fn orders_topic(broker: &Broker, client: &Client) -> u32 {
    create_validated_topic(client, "orders", SchemaValidation::Json).await;
    register_schema(&broker.url, "orders-value", "JSON", ORDER_SCHEMA).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_writes_the_valid_records_and_names_where_each_invalid_one_failed() {
    let broker = Broker::start();
    for encoding in [Encoding::Json, Encoding::Binary] {
        let client = client_for(&broker.url).with_encoding(encoding);
        let topic = format!("orders-{encoding:?}").to_lowercase();
        create_validated_topic(&client, &topic, SchemaValidation::Json).await;
        let id =
            register_schema(&broker.url, &format!("{topic}-value"), "JSON", ORDER_SCHEMA).await;
        let records = [
            Record::json(&json!({"id": 1, "qty": 2})).unwrap(),
            Record::json(&json!({"id": 2, "qty": 0})).unwrap(),
            Record::json(&serde_json::Value::Null).unwrap(),
            Record::json(&json!({"id": 3, "qty": 1}))
                .unwrap()
                .with_header("wharf-schema-id", (id + 100).to_string()),
            Record::json(&json!({"qty": 1})).unwrap(),
        ];
        let answer = client
            .produce_records(&topic, &records, Acks::All, None)
            .await
            .unwrap();
        assert_eq!(answer.status, 207, "{encoding:?}: {answer:?}");

        let too_few = violation(&answer, 1);
        assert_eq!(
            too_few,
            SchemaViolationDetails {
                subject: format!("{topic}-value"),
                schema_id: Some(id),
                version: Some(1),
                pointer: "/qty".into(),
            }
        );
        let wrong_id = violation(&answer, 3);
        assert_eq!(wrong_id.schema_id, Some(id + 100), "{wrong_id:?}");
        assert_eq!(wrong_id.version, None, "not a version of the subject");
        let missing = violation(&answer, 4);
        assert_eq!(
            (missing.schema_id, missing.pointer.as_str()),
            (Some(id), "")
        );

        // The valid record and the tombstone were written; the valid one names its schema.
        let log = read_topic(&client, &topic).await;
        assert_eq!(log.len(), 2, "{encoding:?}: {log:?}");
        assert_eq!(log[0].json::<serde_json::Value>().unwrap()["id"], 1);
        assert_eq!(log[0].headers["wharf-schema-id"], id.to_string());
        assert_eq!(log[1].json::<serde_json::Value>().unwrap(), json!(null));
        assert!(!log[1].headers.contains_key("wharf-schema-id"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_batch_names_the_schema_each_value_matched_and_none_for_tombstones() {
    // A schema that accepts anything, `null` too, checked in the parse's one pass: the
    // tombstone still carries no schema id; a record naming an older version is checked
    // against that version.
    let broker = Broker::start();
    let client = client_for(&broker.url).with_encoding(Encoding::Binary);
    create_validated_topic(&client, "open", SchemaValidation::Json).await;
    let first = register_schema(&broker.url, "open-value", "JSON", r#"{"type":"object"}"#).await;
    register_schema(&broker.url, "open-value", "JSON", r#"{"$comment":"any"}"#).await;
    let latest = register_schema(&broker.url, "open-value", "JSON", "{}").await;
    let records = [
        Record::json(&serde_json::Value::Null).unwrap(),
        Record::json(&json!([1, {"a": "b"}])).unwrap(),
        Record::json(&json!({"a": 1}))
            .unwrap()
            .with_header("wharf-schema-id", first.to_string()),
        Record::json(&json!("text"))
            .unwrap()
            .with_header("wharf-schema-id", first.to_string()),
    ];
    let answer = client
        .produce_records("open", &records, Acks::All, None)
        .await
        .unwrap();
    assert_eq!(violation(&answer, 3).schema_id, Some(first));
    let log = read_topic(&client, "open").await;
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(!log[0].headers.contains_key("wharf-schema-id"), "{log:?}");
    assert_eq!(log[1].headers["wharf-schema-id"], latest.to_string());
    assert_eq!(log[2].headers["wharf-schema-id"], first.to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batching_producer_hands_each_refused_record_its_schema_violation() {
    let broker = Broker::start();
    let client = client_for(&broker.url);
    let id = orders_topic(&broker, &client).await;
    let producer = Producer::new(client.clone(), ProducerConfig::default());
    let good = producer
        .send("orders", Record::json(&json!({"id": 1, "qty": 3})).unwrap())
        .await
        .unwrap();
    let bad = producer
        .send(
            "orders",
            Record::json(&json!({"id": "x", "qty": 3})).unwrap(),
        )
        .await
        .unwrap();
    producer.flush().await.unwrap();

    assert_eq!(good.await.unwrap().offset, Some(0));
    let err = bad.await.unwrap_err();
    let details = err
        .schema_violation()
        .unwrap_or_else(|| panic!("not a schema violation: {err:?}"));
    assert_eq!(details.schema_id, Some(id));
    assert_eq!(details.pointer, "/id");
    assert!(
        matches!(
            &err,
            wharf_client::ProduceError::Rejected {
                retriable: false,
                ..
            }
        ),
        "sending it again cannot help: {err:?}"
    );
    assert_eq!(read_topic(&client, "orders").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_values_must_name_a_version_of_the_subject_and_decode_with_it() {
    let broker = Broker::start();
    let client = client_for(&broker.url).with_encoding(Encoding::Binary);
    create_validated_topic(&client, "counts", SchemaValidation::Registry).await;
    let id = register_schema(&broker.url, "counts-value", "AVRO", COUNT_AVRO).await;
    let records = [
        Record::bytes(wire(id, &[0x54])), // n = 42
        Record::bytes(wire(id + 1, &[0x54])),
        Record::bytes(wire(id, &[0x80])), // a varint that never ends
        Record::bytes(&b"{\"n\":42}"[..]),
        Record::bytes(Vec::new()), // tombstone
    ];
    let answer = client
        .produce_records("counts", &records, Acks::All, None)
        .await
        .unwrap();
    assert_eq!(answer.status, 207, "{answer:?}");
    assert!(answer.results[0].error.is_none(), "{answer:?}");
    assert_eq!(violation(&answer, 1).schema_id, Some(id + 1));
    assert_eq!(violation(&answer, 2).version, Some(1));
    assert_eq!(
        violation(&answer, 3).schema_id,
        None,
        "not in the wire format"
    );
    assert!(answer.results[4].error.is_none(), "{answer:?}");

    let log = read_topic(&client, "counts").await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].value.as_ref(), wire(id, &[0x54]).as_slice());
    assert!(log[1].value.is_empty());
}

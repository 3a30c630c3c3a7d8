//! The cost of schema validation on produce: an in-process broker (as in `http_path`) and a
//! `wharf-client` sending the same pre-encoded binary batch of 1,000 records (`acks=leader`) to
//! a topic without validation and to one with it, for JSON values against a JSON Schema
//! (`schema_validation = "json"`) and for Avro values in Confluent's wire format
//! (`"registry"`). The ratio of records/s with validation to without is the figure (goal ≥ 0.8).
//! Group `schema_check_1000` times the check alone (the compiled schema over the same 1,000
//! values, no broker), to tell the validation's share from the rest of the request; `json_full`
//! is the JSON check without the byte-level fast path (parse into a `Value`, then validate).
//!
//! `cargo bench -p wharf-broker --bench schema_produce -- --warm-up-time 1 --measurement-time 3`

use std::time::Duration;

use apache_avro::types::Value as Avro;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use wharf_broker::config::{BrokerConfig, FsyncPolicy};
use wharf_broker::schema::{Compiled, SchemaType};
use wharf_client::{Acks, Client, ClientConfig, Encoding, Record};
use wharf_proto::api::{CreateTopic, SchemaValidation};

const RECORDS: usize = 1_000;

const ORDER_JSON_SCHEMA: &str = r#"{"type":"object","properties":{"id":{"type":"integer"},"sku":{"type":"string","maxLength":16},"qty":{"type":"integer","minimum":1},"note":{"type":"string"}},"required":["id","sku","qty"]}"#;
const ORDER_AVRO: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"},{"name":"sku","type":"string"},{"name":"qty","type":"int"},{"name":"note","type":"string"}]}"#;

struct InProcess {
    url: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn start_broker() -> InProcess {
    let dir = match std::env::var_os("WHARF_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = BrokerConfig {
        data_dir: dir.path().to_owned(),
        log_filter: "warn".to_owned(),
        fsync: FsyncPolicy::GroupCommit,
        ..BrokerConfig::default()
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = wharf_broker::run(listener, config, shutdown).await {
            eprintln!("broker stopped with an error: {e}");
        }
    });
    InProcess {
        url,
        _stop: stop,
        _runtime: runtime,
        _dir: dir,
    }
}

async fn create(client: &Client, name: &str, mode: SchemaValidation) {
    client
        .create_topic(&CreateTopic {
            name: name.into(),
            partitions: 1,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: None,
            max_record_bytes: None,
            schema_validation: Some(mode),
        })
        .await
        .unwrap();
}

/// Registers a schema through the registry's HTTP API; answers its id.
async fn register(url: &str, subject: &str, kind: &str, schema: &str) -> u32 {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/schemas/subjects/{subject}/versions"))
        .json(&json!({"schema": schema, "schemaType": kind}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["id"].as_u64().expect("registered") as u32
}

fn schema_produce(c: &mut Criterion) {
    let broker = start_broker();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(ClientConfig::new(broker.url.clone()))
        .unwrap()
        .with_encoding(Encoding::Binary);
    let avro_id = rt.block_on(async {
        for _ in 0..100 {
            if client.health().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        create(&client, "json-off", SchemaValidation::None).await;
        create(&client, "json-on", SchemaValidation::Json).await;
        create(&client, "avro-off", SchemaValidation::None).await;
        create(&client, "avro-on", SchemaValidation::Registry).await;
        register(&broker.url, "json-on-value", "JSON", ORDER_JSON_SCHEMA).await;
        register(&broker.url, "avro-on-value", "AVRO", ORDER_AVRO).await
    });

    // About 100-byte values either way.
    let note = "n".repeat(40);
    let json_records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            Record::json(
                &json!({"id": i, "sku": format!("SKU-{}", i % 97), "qty": 1 + i % 9, "note": note}),
            )
            .unwrap()
        })
        .collect();
    let avro_schema = apache_avro::Schema::parse_str(ORDER_AVRO).unwrap();
    let avro_records: Vec<Record> = (0..RECORDS)
        .map(|i| {
            let datum = apache_avro::to_avro_datum(
                &avro_schema,
                Avro::Record(vec![
                    ("id".into(), Avro::Long(i as i64)),
                    ("sku".into(), Avro::String(format!("SKU-{}", i % 97))),
                    ("qty".into(), Avro::Int(1 + (i % 9) as i32)),
                    ("note".into(), Avro::String(note.repeat(2))),
                ]),
            )
            .unwrap();
            let mut value = vec![0];
            value.extend_from_slice(&avro_id.to_be_bytes());
            value.extend_from_slice(&datum);
            Record::bytes(value)
        })
        .collect();
    check_alone(c, &json_records, &avro_records);
    let json_batch = client.encode_batch(&json_records).unwrap();
    let avro_batch = client.encode_batch(&avro_records).unwrap();

    let mut g = c.benchmark_group("schema_produce_1000");
    g.throughput(Throughput::Elements(RECORDS as u64));
    for (name, topic, batch) in [
        ("json/off", "json-off", &json_batch),
        ("json/on", "json-on", &json_batch),
        ("avro/off", "avro-off", &avro_batch),
        ("avro/on", "avro-on", &avro_batch),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let answer = rt
                    .block_on(client.produce_encoded(topic, batch, Acks::Leader, None))
                    .unwrap();
                assert_eq!(answer.status, 200, "{name}: every record is valid");
                answer
            })
        });
    }
    g.finish();
}

/// The check the produce path runs per value, without the request around it: JSON through the
/// byte-level check (the schema is in its subset), Avro walked after its 5-byte prefix.
fn check_alone(c: &mut Criterion, json_records: &[Record], avro_records: &[Record]) {
    let json = Compiled::compile(SchemaType::Json, ORDER_JSON_SCHEMA).unwrap();
    let avro = Compiled::compile(SchemaType::Avro, ORDER_AVRO).unwrap();
    let mut g = c.benchmark_group("schema_check_1000");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("json", |b| {
        b.iter(|| {
            for r in json_records {
                json.check_payload(&r.value).unwrap();
            }
        })
    });
    // What the byte-level check saves: the same values parsed and validated in full.
    g.bench_function("json_full", |b| {
        b.iter(|| {
            for r in json_records {
                let document: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
                json.check_json(&document).unwrap();
            }
        })
    });
    g.bench_function("avro", |b| {
        b.iter(|| {
            for r in avro_records {
                avro.check_payload(&r.value[5..]).unwrap();
            }
        })
    });
    g.finish();
}

criterion_group!(benches, schema_produce);
criterion_main!(benches);

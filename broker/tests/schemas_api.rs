//! The schema registry (`/schemas/`) and validation on produce, on the real binary: registry
//! round trips with Confluent's codes, JSON Schema and Confluent wire-format (Avro) checks of
//! valid, invalid, wrong-id, tombstone and mixed batches, rights, and a restart.
mod common;

use apache_avro::types::Value as Avro;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{Api, Broker, start_broker};
use serde_json::{Value, json};

const ORDER_AVRO: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"sku","type":"string"}]}"#;
const ORDER_AVRO_V2: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"long"},{"name":"sku","type":"string"},{"name":"qty","type":"int","default":1}]}"#;
const ORDER_JSON: &str = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"id":{"type":"integer"},"lines":{"type":"array","items":{"type":"object","properties":{"qty":{"type":"integer","minimum":1}},"required":["qty"]}}},"required":["id"]}"#;

fn started() -> (tempfile::TempDir, Broker, Api) {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_broker(dir.path(), &[]);
    let api = Api::new(&broker.url);
    (dir, broker, api)
}

fn register(api: &Api, subject: &str, kind: &str, schema: &str) -> (u16, Value) {
    api.post(
        &format!("/schemas/subjects/{subject}/versions"),
        &json!({"schema": schema, "schemaType": kind}),
    )
}

fn registered_id(api: &Api, subject: &str, kind: &str, schema: &str) -> u32 {
    let (status, body) = register(api, subject, kind, schema);
    assert_eq!(status, 200, "{body}");
    body["id"].as_u64().unwrap() as u32
}

fn topic_with(api: &Api, name: &str, mode: &str) {
    let body =
        api.create_topic_with(&json!({"name": name, "partitions": 1, "schema_validation": mode}));
    assert_eq!(body["schema_validation"], mode, "{body}");
}

/// Confluent's wire format: magic 0, the id big-endian, the Avro datum.
fn wire(id: u32, datum: &[u8]) -> String {
    let mut bytes = vec![0];
    bytes.extend_from_slice(&id.to_be_bytes());
    bytes.extend_from_slice(datum);
    B64.encode(bytes)
}

fn order_datum(id: i64, sku: &str) -> Vec<u8> {
    let schema = apache_avro::Schema::parse_str(ORDER_AVRO).unwrap();
    let value = Avro::Record(vec![
        ("id".into(), Avro::Long(id)),
        ("sku".into(), Avro::String(sku.into())),
    ]);
    apache_avro::to_avro_datum(&schema, value).unwrap()
}

#[test]
fn registry_round_trips_subjects_versions_ids_and_levels_with_confluents_codes() {
    let (_dir, _broker, api) = started();
    let resp = api
        .request(reqwest::Method::GET, "/schemas/subjects")
        .send()
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.schemaregistry.v1+json"
    );
    assert_eq!(resp.text().unwrap(), "[]");

    let id = registered_id(&api, "orders-value", "AVRO", ORDER_AVRO);
    // The same schema again is the same version; under another subject, the same id.
    assert_eq!(registered_id(&api, "orders-value", "AVRO", ORDER_AVRO), id);
    assert_eq!(registered_id(&api, "refunds-value", "AVRO", ORDER_AVRO), id);
    let (status, v2) = register(&api, "orders-value", "AVRO", ORDER_AVRO_V2);
    assert_eq!((status, v2["version"].clone()), (200, json!(2)), "{v2}");

    assert_eq!(
        api.get("/schemas/subjects").1,
        json!(["orders-value", "refunds-value"])
    );
    assert_eq!(
        api.get("/schemas/subjects/orders-value/versions").1,
        json!([1, 2])
    );
    let (_, latest) = api.get("/schemas/subjects/orders-value/versions/latest");
    assert_eq!(latest["schema"], ORDER_AVRO_V2);
    assert_eq!(latest["version"], 2);
    let (_, by_id) = api.get(&format!("/schemas/schemas/ids/{id}"));
    assert_eq!(by_id["schema"], ORDER_AVRO);
    let (status, found) = api.post(
        "/schemas/subjects/orders-value",
        &json!({"schema": ORDER_AVRO}),
    );
    assert_eq!(
        (status, found["version"].clone()),
        (200, json!(1)),
        "{found}"
    );

    // Compatibility: BACKWARD by default; a field without a default is refused (409).
    assert_eq!(
        api.get("/schemas/config").1,
        json!({"compatibilityLevel": "BACKWARD"})
    );
    // A new field without a default: the new reader cannot fill it in data written with v2.
    let breaking = ORDER_AVRO_V2.replace("]}", r#",{"name":"note","type":"string"}]}"#);
    let (status, test) = api.post(
        "/schemas/compatibility/subjects/orders-value/versions/latest?verbose=true",
        &json!({"schema": breaking}),
    );
    assert_eq!(status, 200, "{test}");
    assert_eq!(test["is_compatible"], false);
    assert!(!test["messages"].as_array().unwrap().is_empty(), "{test}");
    let (status, refused) = register(&api, "orders-value", "AVRO", &breaking);
    assert_eq!(
        (status, refused["error_code"].clone()),
        (409, json!(409)),
        "{refused}"
    );
    let resp = api
        .request(reqwest::Method::PUT, "/schemas/config/orders-value")
        .json(&json!({"compatibility": "NONE"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        api.get("/schemas/config/orders-value").1,
        json!({"compatibilityLevel": "NONE"})
    );
    assert_eq!(register(&api, "orders-value", "AVRO", &breaking).0, 200);

    // Soft delete: the version disappears, its id still resolves.
    assert_eq!(
        api.delete("/schemas/subjects/orders-value/versions/1"),
        (200, json!(1))
    );
    assert_eq!(
        api.get("/schemas/subjects/orders-value/versions").1,
        json!([2, 3])
    );
    assert_eq!(
        api.get("/schemas/subjects/orders-value/versions?deleted=true")
            .1,
        json!([1, 2, 3])
    );
    assert_eq!(api.get(&format!("/schemas/schemas/ids/{id}")).0, 200);

    // Listings take the parameters Confluent's clients send on every call.
    for (path, listed) in [
        (
            "/schemas/subjects?deleted=False&deleted_only=False&offset=0&limit=-1",
            json!(["orders-value", "refunds-value"]),
        ),
        (
            "/schemas/subjects?subjectPrefix=ref",
            json!(["refunds-value"]),
        ),
        (
            "/schemas/subjects?offset=1&limit=5",
            json!(["refunds-value"]),
        ),
        (
            "/schemas/subjects/orders-value/versions?deleted_only=True",
            json!([1]),
        ),
        (
            "/schemas/subjects/orders-value/versions?deleted=true&offset=1&limit=1",
            json!([2]),
        ),
        (
            "/schemas/subjects/orders-value/versions/latest?deleted=False&format=serialized",
            json!(3),
        ),
    ] {
        let (status, body) = api.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        let got = if path.contains("latest") {
            body["version"].clone()
        } else {
            body
        };
        assert_eq!(got, listed, "{path}");
    }
    for path in [
        "/schemas/subjects?limit=-2",
        "/schemas/subjects?deleted_only=maybe",
        "/schemas/subjects?offset=x",
    ] {
        assert_eq!(api.get(path).0, 400, "{path}");
    }

    for (path, status, code) in [
        ("/schemas/subjects/nope-value/versions", 404, 40401),
        ("/schemas/subjects/orders-value/versions/1", 404, 40402),
        ("/schemas/subjects/orders-value/versions/9", 404, 40402),
        ("/schemas/schemas/ids/999", 404, 40403),
        ("/schemas/subjects/orders-value/versions/zero", 422, 42202),
    ] {
        let (got, body) = api.get(path);
        assert_eq!(
            (got, body["error_code"].clone()),
            (status, json!(code)),
            "{path}: {body}"
        );
        common::error_code(got, &body);
    }
    let (status, invalid) = register(&api, "orders-value", "AVRO", r#"{"type":"record"}"#);
    assert_eq!(
        (status, invalid["error_code"].clone()),
        (422, json!(42201)),
        "{invalid}"
    );
    let (status, invalid) = register(&api, "orders-value", "JSON", r#"{"type":12}"#);
    assert_eq!(
        (status, invalid["error_code"].clone()),
        (422, json!(42201)),
        "{invalid}"
    );
}

#[test]
fn json_validation_refuses_invalid_records_alone_and_tags_the_others() {
    let (_dir, _broker, api) = started();
    topic_with(&api, "orders", "json");
    // Validation on, no schema yet: refused, naming the subject.
    let (status, body) = api.produce("orders", json!([{"value": {"id": 1}}]));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["results"][0]["error"]["code"], "schema_violation");
    assert_eq!(
        body["results"][0]["error"]["details"]["subject"],
        "orders-value"
    );

    let id = registered_id(&api, "orders-value", "JSON", ORDER_JSON);
    let (status, body) = api.produce(
        "orders",
        json!([
            {"key": "a", "value": {"id": 1, "lines": [{"qty": 2}]}},
            {"key": "b", "value": {"id": 2, "lines": [{"qty": 2}, {"qty": 0}]}},
            {"key": "c", "value": null},
            {"key": "d", "value_b64": B64.encode(br#"{"id":4}"#)},
            {"key": "e", "value_b64": B64.encode(b"not json")},
            {"key": "f", "value": {"lines": []}},
        ]),
    );
    assert_eq!(status, 207, "{body}");
    let results = body["results"].as_array().unwrap();
    let codes: Vec<Value> = results.iter().map(|r| r["error"]["code"].clone()).collect();
    assert_eq!(
        codes,
        [
            Value::Null,
            json!("schema_violation"),
            Value::Null,
            Value::Null,
            json!("schema_violation"),
            json!("schema_violation"),
        ]
    );
    let details = &results[1]["error"]["details"];
    assert_eq!(details["pointer"], "/lines/1/qty", "{details}");
    assert_eq!(
        (details["schema_id"].clone(), details["version"].clone()),
        (json!(id), json!(1))
    );
    assert_eq!(results[5]["error"]["details"]["pointer"], "", "{body}");

    let records = api.fetch_all("orders", 0);
    let keys: Vec<&str> = records.iter().map(|r| r["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["a", "c", "d"]);
    assert_eq!(records[0]["headers"]["wharf-schema-id"], id.to_string());
    assert!(
        records[1]["headers"].get("wharf-schema-id").is_none(),
        "a tombstone is not tagged"
    );

    // A header naming a schema id that is not a version of the subject is refused.
    let other = registered_id(&api, "elsewhere-value", "JSON", r#"{"type":"string"}"#);
    let (status, body) = api.produce(
        "orders",
        json!([{"value": {"id": 1}, "headers": {"wharf-schema-id": other.to_string()}}]),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["results"][0]["error"]["details"]["schema_id"], other);
}

#[test]
fn registry_validation_checks_the_wire_format_the_id_and_the_avro_payload() {
    let (_dir, _broker, api) = started();
    topic_with(&api, "shop", "registry");
    let id = registered_id(&api, "shop-value", "AVRO", ORDER_AVRO);
    let foreign = registered_id(&api, "other-value", "AVRO", r#"{"type":"string"}"#);
    let datum = order_datum(42, "A-1");
    let (status, body) = api.produce(
        "shop",
        json!([
            {"key": "valid", "value_b64": wire(id, &datum)},
            {"key": "wrong-id", "value_b64": wire(foreign, &datum)},
            {"key": "unknown-id", "value_b64": wire(777, &datum)},
            {"key": "truncated", "value_b64": wire(id, &datum[..datum.len() - 1])},
            {"key": "no-magic", "value_b64": B64.encode(&datum)},
            {"key": "tombstone", "value_b64": ""},
        ]),
    );
    assert_eq!(status, 207, "{body}");
    let results = body["results"].as_array().unwrap();
    let refused: Vec<bool> = results.iter().map(|r| r["error"].is_object()).collect();
    assert_eq!(refused, [false, true, true, true, true, false], "{body}");
    for r in &results[1..5] {
        assert_eq!(r["error"]["code"], "schema_violation", "{r}");
    }
    assert_eq!(results[1]["error"]["details"]["schema_id"], foreign);
    assert_eq!(results[3]["error"]["details"]["version"], 1);
    let records = api.fetch_all("shop", 0);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["headers"]["wharf-schema-id"], id.to_string());
    // The stored value is the producer's bytes, unchanged.
    assert_eq!(records[0]["value_b64"], wire(id, &datum));

    // A soft-deleted version no longer validates new records.
    assert_eq!(api.delete("/schemas/subjects/shop-value/versions/1").0, 200);
    let (status, body) = api.produce("shop", json!([{"value_b64": wire(id, &datum)}]));
    assert_eq!(status, 400, "{body}");
}

#[test]
fn registering_needs_admin_and_reading_needs_a_right_on_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = r#"[
      {token = "admin-token-0001", name = "admin", rights = [{topics = "*", actions = ["admin", "produce", "consume"]}]},
      {token = "orders-producer1", name = "orders", rights = [{topics = "orders", actions = ["produce"]}]}
    ]"#;
    let broker = start_broker(dir.path(), &[("WHARF_AUTH_TOKENS", tokens)]);
    let admin = Api::with_token(&broker.url, "admin-token-0001");
    let producer = Api::with_token(&broker.url, "orders-producer1");
    let anonymous = Api::new(&broker.url);
    let (status, body) = register(&producer, "orders-value", "AVRO", ORDER_AVRO);
    assert_eq!(
        (status, body["error_code"].clone()),
        (403, json!(40301)),
        "{body}"
    );
    assert_eq!(
        register(&anonymous, "orders-value", "AVRO", ORDER_AVRO).0,
        401
    );
    registered_id(&admin, "orders-value", "AVRO", ORDER_AVRO);
    registered_id(&admin, "payments-value", "AVRO", ORDER_AVRO);
    assert_eq!(
        producer.get("/schemas/subjects/orders-value/versions/1").0,
        200
    );
    assert_eq!(producer.get("/schemas/subjects").1, json!(["orders-value"]));
    assert_eq!(
        producer.get("/schemas/subjects/payments-value/versions").0,
        403
    );
}

#[test]
fn schemas_levels_and_topic_modes_survive_a_restart() {
    let (_dir, mut broker, api) = started();
    topic_with(&api, "orders", "json");
    let id = registered_id(&api, "orders-value", "JSON", ORDER_JSON);
    let resp = api
        .request(reqwest::Method::PUT, "/schemas/config")
        .json(&json!({"compatibility": "FULL"}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    broker.restart();
    let api = Api::new(&broker.url);
    assert_eq!(
        api.get("/schemas/subjects/orders-value/versions").1,
        json!([1])
    );
    assert_eq!(
        api.get(&format!("/schemas/schemas/ids/{id}")).1["schema"],
        ORDER_JSON
    );
    assert_eq!(
        api.get("/schemas/config").1,
        json!({"compatibilityLevel": "FULL"})
    );
    assert_eq!(api.describe("orders")["schema_validation"], "json");
    let (status, body) = api.produce(
        "orders",
        json!([{"value": {"id": "x"}}, {"value": {"id": 1}}]),
    );
    assert_eq!(status, 207, "{body}");
    assert_eq!(body["results"][0]["error"]["details"]["pointer"], "/id");
    // Ids keep growing across the restart.
    let next = registered_id(&api, "other-value", "JSON", r#"{"type":"string"}"#);
    assert_eq!(next, id + 1);
}

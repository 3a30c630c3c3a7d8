//! The OpenAPI document of the HTTP API, as served at `GET /v1/openapi.json`.
//!
//! The handlers' `#[utoipa::path]` annotations and the wire types' derives say most of it.
//! [`refine`] adds what they cannot, in one place, so that a request the document calls valid
//! is one the broker accepts (schemathesis checks exactly that, `infra/local/schemathesis.sh`):
//!
//! - path parameters are constrained by name (`topic`, `group`, `member`, `subject`, `version`)
//!   with the patterns the broker's validators apply;
//! - bounds that come from the configuration (`max_partitions_per_topic`, `max_wait_ms`, the
//!   group lease range) are the running broker's own;
//! - retention is `-1` or positive; a reset target names exactly one kind; enumerated query
//!   values (`acks`, `resolve`) are enums; offset lookups take `earliest`, `latest` or digits;
//! - a record's `value` (and a JSON `key`) is any JSON value; a produced record has exactly one of `value` / `value_b64` and at most one of `key` /
//!   `key_b64`;
//! - every operation that takes parameters or a body documents its `400`, and every one that
//!   names a subject or version its `422` (the registry's status for those, as Confluent's).
//!
//! Rules JSON Schema cannot state (one field bounded by another, a partition at most once per
//! commit, an offset inside the log's current range, a schema text that must parse) stay in
//! the broker's validators; `infra/local/schemathesis.toml` lists them per operation.

use serde_json::{Value, json};
use utoipa::OpenApi;

use super::error::SCHEMA_REGISTRY_JSON;
use super::{fetch, groups, ops, produce, schemas, topics};
use crate::config::{BrokerConfig, MIN_SEGMENT_BYTES};
use crate::service::consume::{MAX_FETCH_BYTES, MAX_FETCH_RECORDS};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Wharf HTTP API",
        version = "1",
        description = "Serverless event gateway: topics, produce, fetch, consumer groups, and a schema registry under /schemas (the Confluent Schema Registry subset its clients use)"
    ),
    paths(
        topics::create_topic,
        topics::list_topics,
        topics::describe_topic,
        topics::patch_topic,
        topics::delete_topic,
        produce::produce,
        fetch::fetch,
        fetch::offsets,
        ops::health,
        ops::ready,
        ops::metrics,
        ops::openapi,
        groups::join,
        groups::heartbeat,
        groups::poll,
        groups::leave,
        groups::commit,
        groups::reset_offsets,
        groups::list_groups,
        groups::describe_group,
        groups::delete_group,
        schemas::list_subjects,
        schemas::list_versions,
        schemas::register,
        schemas::get_version,
        schemas::get_version_text,
        schemas::delete_version,
        schemas::delete_subject,
        schemas::lookup,
        schemas::get_by_id,
        schemas::get_id_versions,
        schemas::get_global_level,
        schemas::put_global_level,
        schemas::get_subject_level,
        schemas::put_subject_level,
        schemas::test_compatibility,
    ),
    components(schemas(
        wharf_proto::api::ErrorBody,
        wharf_proto::api::ErrorDetail,
        wharf_proto::api::CreateTopic,
        wharf_proto::api::PatchTopic,
        wharf_proto::api::TopicDescription,
        wharf_proto::api::PartitionState,
        wharf_proto::api::TopicList,
        wharf_proto::api::ProduceRequest,
        wharf_proto::api::ProduceRecord,
        wharf_proto::api::ProduceResponse,
        wharf_proto::api::ProduceResult,
        wharf_proto::api::SchemaViolationDetails,
        wharf_proto::api::FetchResponse,
        wharf_proto::api::FetchedRecord,
        wharf_proto::api::OffsetLookup,
        wharf_proto::api::JoinGroup,
        wharf_proto::api::AutoOffsetReset,
        wharf_proto::api::MemberState,
        wharf_proto::api::GroupAssignment,
        wharf_proto::api::PollRequest,
        wharf_proto::api::PollResponse,
        wharf_proto::api::PolledRecord,
        wharf_proto::api::PolledPartition,
        wharf_proto::api::CommitRequest,
        wharf_proto::api::CommitResponse,
        wharf_proto::api::OffsetCommit,
        wharf_proto::api::ResetOffsets,
        wharf_proto::api::ResetTarget,
        wharf_proto::api::PartitionOffset,
        wharf_proto::api::GroupList,
        wharf_proto::api::GroupSummary,
        wharf_proto::api::GroupDescription,
        wharf_proto::api::GroupMember,
        wharf_proto::api::GroupPartition,
    ))
)]
struct ApiDoc;

/// The document for a broker running with `config`.
pub fn document(config: &BrokerConfig) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
    refine(&mut doc, config);
    doc
}

/// Pattern of a topic name (as `CreateTopic.name` documents it).
const TOPIC_PATTERN: &str = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,249}$";
/// Group names are shorter than topic names, so that generated member ids stay valid.
const GROUP_PATTERN: &str = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,200}$";
const MEMBER_PATTERN: &str = r"^(?!\.{1,2}$)[A-Za-z0-9._-]{1,255}$";
const SUBJECT_PATTERN: &str = r"^[A-Za-z0-9._:-]{1,255}$";
/// A positive version (one that fits in 32 bits), `latest`, or Confluent's `-1`.
const VERSION_PATTERN: &str = r"^([1-9][0-9]{0,8}|latest|-1)$";

fn refine(doc: &mut Value, config: &BrokerConfig) {
    let schemas = &mut doc["components"]["schemas"];
    let retention = |description: &Value| {
        json!({
            "description": description,
            "anyOf": [{"type": "null"}, {"const": -1}, {"type": "integer", "minimum": 1}],
        })
    };
    for name in ["CreateTopic", "PatchTopic"] {
        let props = &mut schemas[name]["properties"];
        for field in ["retention_ms", "retention_bytes"] {
            let refined = retention(&props[field]["description"]);
            props[field] = refined;
        }
        props["partitions"]["minimum"] = json!(1);
        props["partitions"]["maximum"] = json!(config.max_partitions_per_topic);
    }
    let create = &mut schemas["CreateTopic"]["properties"];
    create["segment_bytes"]["minimum"] = json!(MIN_SEGMENT_BYTES);
    create["segment_bytes"]["maximum"] = json!(u32::MAX);
    create["max_record_bytes"]["minimum"] = json!(1);
    create["max_record_bytes"]["maximum"] = json!(u32::MAX);

    let lease = &mut schemas["JoinGroup"]["properties"]["lease_ms"];
    lease["minimum"] = json!(config.groups.min_lease_ms);
    lease["maximum"] = json!(config.groups.max_lease_ms);
    let poll = &mut schemas["PollRequest"]["properties"];
    budget(poll, config);
    poll["resolve"]["enum"] = json!(["url", null]);

    // A record carries exactly one of `value` / `value_b64`, and at most one of `key` /
    // `key_b64`.
    // `value` (and a JSON `key`) is any JSON value, `null` and numbers included.
    for (name, field) in [
        ("ProduceRecord", "value"),
        ("ProduceRecord", "key"),
        ("FetchedRecord", "value"),
        ("PolledRecord", "value"),
    ] {
        let property = &mut schemas[name]["properties"][field];
        let description = property.get("description").cloned();
        *property = description.map_or_else(|| json!({}), |d| json!({"description": d}));
    }
    let record = &mut schemas["ProduceRecord"];
    record["oneOf"] = json!([{"required": ["value"]}, {"required": ["value_b64"]}]);
    // (Spelled without `not`, which schemathesis's generator handles unreliably.)
    record["anyOf"] = json!([{"properties": {"key": false}}, {"properties": {"key_b64": false}}]);

    // `{"timestamp": 5}`, not `{"timestamp": 5, "other": 1}`: the target names one kind.
    if let Some(variants) = schemas["ResetTarget"]["oneOf"].as_array_mut() {
        for variant in variants.iter_mut().filter(|v| v["type"] == "object") {
            variant["additionalProperties"] = json!(false);
        }
    }

    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, operation) in paths.iter_mut().flat_map(|(path, item)| {
        let operations = item
            .as_object_mut()
            .into_iter()
            .flat_map(|ops| ops.values_mut());
        operations.map(move |operation| (path.as_str(), operation))
    }) {
        let error = error_response(path);
        let takes_input = operation.get("requestBody").is_some()
            || operation["parameters"]
                .as_array()
                .is_some_and(|p| !p.is_empty());
        if let Some(params) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            for param in params {
                refine_parameter(param, config);
            }
        }
        let names_subject = operation["parameters"].as_array().is_some_and(|params| {
            params.iter().any(|p| {
                p["in"] == "path" && matches!(p["name"].as_str(), Some("subject" | "version"))
            })
        });
        if names_subject && operation["responses"].get("422").is_none() {
            operation["responses"]["422"] =
                error_response_with("Invalid subject name (42201) or version (42202)", &error);
        }
        if takes_input && operation["responses"].get("400").is_none() {
            operation["responses"]["400"] = error_response_with(
                "Malformed request: the error body names the field and the rule",
                &error,
            );
        }
    }
}

/// The `content` of an error answer on `path`. The registry answers its own errors in its
/// media type; a parameter the extractors refuse is answered in JSON, as on every route.
fn error_response(path: &str) -> Value {
    let body = json!({"schema": {"$ref": "#/components/schemas/ErrorBody"}});
    if path.starts_with("/schemas/") {
        json!({"application/json": body, SCHEMA_REGISTRY_JSON: body})
    } else {
        json!({"application/json": body})
    }
}

fn error_response_with(description: &str, content: &Value) -> Value {
    json!({"description": description, "content": content})
}

/// Bounds of a fetch or poll budget (`props`: the properties or parameters by name).
fn budget(props: &mut Value, config: &BrokerConfig) {
    props["max_records"]["minimum"] = json!(1);
    props["max_records"]["maximum"] = json!(MAX_FETCH_RECORDS);
    props["max_bytes"]["minimum"] = json!(1);
    props["max_bytes"]["maximum"] = json!(MAX_FETCH_BYTES);
    props["wait_ms"]["maximum"] = json!(config.max_wait_ms);
}

fn refine_parameter(param: &mut Value, config: &BrokerConfig) {
    let name = param["name"].as_str().unwrap_or_default().to_owned();
    let place = param["in"].as_str().unwrap_or_default().to_owned();
    let schema = &mut param["schema"];
    match (place.as_str(), name.as_str()) {
        ("path", "topic") => schema["pattern"] = json!(TOPIC_PATTERN),
        ("path", "group") => schema["pattern"] = json!(GROUP_PATTERN),
        ("path", "member") => schema["pattern"] = json!(MEMBER_PATTERN),
        ("path", "subject") => schema["pattern"] = json!(SUBJECT_PATTERN),
        ("path", "version") => schema["pattern"] = json!(VERSION_PATTERN),
        ("query", "acks") => schema["enum"] = json!(["all", "leader", "none"]),
        ("query", "resolve") => schema["enum"] = json!(["url"]),
        ("query", "at") => schema["pattern"] = json!("^(earliest|latest|[0-9]{1,18})$"),
        ("query", "max_records" | "max_bytes" | "wait_ms") => {
            let mut bounds = json!({});
            budget(&mut bounds, config);
            if let Some(bounds) = bounds[&name].as_object() {
                for (k, v) in bounds {
                    schema[k] = v.clone();
                }
            }
        }
        ("query", "min_bytes") => {
            schema["minimum"] = json!(1);
            schema["maximum"] = json!(MAX_FETCH_BYTES);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_covers_every_route() {
        let json = document(&BrokerConfig::default());
        let paths = json["paths"].as_object().unwrap();
        for (path, method) in [
            ("/v1/topics", "post"),
            ("/v1/topics", "get"),
            ("/v1/topics/{topic}", "get"),
            ("/v1/topics/{topic}", "patch"),
            ("/v1/topics/{topic}", "delete"),
            ("/v1/topics/{topic}/records", "post"),
            ("/v1/topics/{topic}/partitions/{partition}/records", "get"),
            ("/v1/topics/{topic}/partitions/{partition}/offsets", "get"),
            ("/health", "get"),
            ("/ready", "get"),
            ("/metrics", "get"),
            ("/v1/openapi.json", "get"),
            ("/v1/groups", "get"),
            ("/v1/groups/{group}", "get"),
            ("/v1/groups/{group}", "delete"),
            ("/v1/groups/{group}/members", "post"),
            ("/v1/groups/{group}/members/{member}", "delete"),
            ("/v1/groups/{group}/members/{member}/heartbeat", "post"),
            ("/v1/groups/{group}/members/{member}/poll", "post"),
            ("/v1/groups/{group}/offsets", "post"),
            ("/v1/groups/{group}/offsets", "put"),
            ("/schemas/subjects", "get"),
            ("/schemas/subjects/{subject}", "post"),
            ("/schemas/subjects/{subject}", "delete"),
            ("/schemas/subjects/{subject}/versions", "get"),
            ("/schemas/subjects/{subject}/versions", "post"),
            ("/schemas/subjects/{subject}/versions/{version}", "get"),
            ("/schemas/subjects/{subject}/versions/{version}", "delete"),
            (
                "/schemas/subjects/{subject}/versions/{version}/schema",
                "get",
            ),
            ("/schemas/schemas/ids/{id}", "get"),
            ("/schemas/schemas/ids/{id}/versions", "get"),
            ("/schemas/config", "get"),
            ("/schemas/config", "put"),
            ("/schemas/config/{subject}", "get"),
            ("/schemas/config/{subject}", "put"),
            (
                "/schemas/compatibility/subjects/{subject}/versions/{version}",
                "post",
            ),
        ] {
            assert!(
                paths.get(path).and_then(|p| p.get(method)).is_some(),
                "{method} {path} missing from the OpenAPI document"
            );
        }
    }

    #[test]
    fn refinements_land_on_existing_schemas_and_add_none() {
        let plain = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let refined = document(&BrokerConfig::default());
        let names = |doc: &Value| {
            let mut names: Vec<String> = doc["components"]["schemas"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            names.sort();
            names
        };
        // A refinement aimed at a renamed type would otherwise create a stray schema.
        assert_eq!(names(&plain), names(&refined));
        for (name, schema) in refined["components"]["schemas"].as_object().unwrap() {
            assert!(
                schema.get("type").is_some() || schema.get("oneOf").is_some(),
                "{name} lost its shape: {schema}"
            );
        }
    }

    #[test]
    fn bounds_come_from_the_running_configuration() {
        let config = BrokerConfig {
            max_partitions_per_topic: 7,
            max_wait_ms: 1_234,
            ..BrokerConfig::default()
        };
        let doc = document(&config);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["CreateTopic"]["properties"]["partitions"]["maximum"],
            7
        );
        assert_eq!(
            schemas["PatchTopic"]["properties"]["partitions"]["maximum"],
            7
        );
        assert_eq!(
            schemas["PollRequest"]["properties"]["wait_ms"]["maximum"],
            1_234
        );
        let fetch = &doc["paths"]["/v1/topics/{topic}/partitions/{partition}/records"]["get"];
        let wait = fetch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "wait_ms")
            .unwrap();
        assert_eq!(wait["schema"]["maximum"], 1_234);
    }

    #[test]
    fn named_path_parameters_carry_patterns_and_inputs_document_400() {
        let doc = document(&BrokerConfig::default());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let params = operation["parameters"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for p in &params {
                    let named = matches!(
                        p["name"].as_str(),
                        Some("topic" | "group" | "member" | "subject" | "version")
                    );
                    if p["in"] == "path" && named {
                        assert!(p["schema"]["pattern"].is_string(), "{method} {path}: {p}");
                    }
                }
                if !params.is_empty() || operation.get("requestBody").is_some() {
                    assert!(
                        operation["responses"]["400"].is_object(),
                        "{method} {path} takes input but documents no 400"
                    );
                }
            }
        }
    }

    #[test]
    fn retention_is_minus_one_or_positive() {
        let doc = document(&BrokerConfig::default());
        let retention = &doc["components"]["schemas"]["CreateTopic"]["properties"]["retention_ms"];
        assert_eq!(
            retention["anyOf"],
            json!([{"type": "null"}, {"const": -1}, {"type": "integer", "minimum": 1}])
        );
    }
}

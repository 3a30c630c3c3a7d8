//! Compiled schemas and the check of one record's key or value against its subject.
//!
//! A registered schema never changes, so it is compiled once (at registration or when the
//! registry loads) and shared as an [`Arc<Compiled>`]; a produce request takes one
//! [`SubjectView`] per subject and checks every record against it without further locking.
//!
//! Two modes (the topic's `schema_validation`):
//! - `json`: the value is JSON (a `value`, or `value_b64` holding JSON text) and must validate
//!   against the subject's latest JSON Schema, or the version whose id the record's
//!   `wharf-schema-id` header names.
//! - `registry`: the value is in Confluent's wire format (magic byte 0, the schema id as 4 bytes
//!   big-endian, the payload); the id must be a live version of the subject, and the payload
//!   must decode with it (Avro: the whole payload is one datum; JSON: it validates).
//!
//! Null values (an empty value, or JSON `null`) are tombstones and always pass.

use std::sync::Arc;

use serde_json::Value;

use super::avro_walk::AvroWalk;
use super::json_fast::FastJson;
use super::{SchemaError, SchemaType, SubjectView};
use wharf_proto::api::SchemaValidation;

/// A schema ready to check data.
#[derive(Debug)]
pub enum Compiled {
    Json {
        validator: Box<jsonschema::Validator>,
        /// The byte-level check, for schemas in its subset: a valid record skips the parse.
        fast: Option<FastJson>,
    },
    Avro(Box<AvroWalk>),
}

impl Compiled {
    /// Parses and compiles `text`: an invalid schema is [`SchemaError::InvalidSchema`].
    /// Remote `$ref`s are not fetched (the crate is built without retrieval).
    pub fn compile(kind: SchemaType, text: &str) -> Result<Self, SchemaError> {
        let invalid = |message: String| SchemaError::InvalidSchema { message };
        match kind {
            SchemaType::Json => {
                let value: Value =
                    serde_json::from_str(text).map_err(|e| invalid(format!("not JSON: {e}")))?;
                if !matches!(value, Value::Object(_) | Value::Bool(_)) {
                    return Err(invalid("a JSON Schema is an object or a boolean".into()));
                }
                let validator =
                    jsonschema::validator_for(&value).map_err(|e| invalid(e.to_string()))?;
                Ok(Self::Json {
                    validator: Box::new(validator),
                    fast: FastJson::plan(&value),
                })
            }
            SchemaType::Avro => apache_avro::Schema::parse_str(text)
                .map(|s| Self::Avro(Box::new(AvroWalk::new(s))))
                .map_err(|e| invalid(e.to_string())),
        }
    }

    pub fn schema_type(&self) -> SchemaType {
        match self {
            Self::Json { .. } => SchemaType::Json,
            Self::Avro(_) => SchemaType::Avro,
        }
    }

    /// Checks a JSON document: the JSON pointer of the first failing place and why.
    pub fn check_json(&self, document: &Value) -> Result<(), (String, String)> {
        match self {
            Self::Json { validator, .. } => validator
                .validate(document)
                .map_err(|e| (e.instance_path().to_string(), e.to_string())),
            Self::Avro(_) => Err((String::new(), "the schema is Avro, not JSON Schema".into())),
        }
    }

    /// Whether the byte-level check accepts `text` as valid JSON for this schema; `false`
    /// is "not sure" (the full parse and validation decide).
    pub fn accepts_json_text(&self, text: &[u8]) -> bool {
        match self {
            Self::Json {
                fast: Some(fast), ..
            } => fast.accepts(text),
            _ => false,
        }
    }

    /// Checks a payload in this schema's binary form (Avro datum or JSON text; for JSON the
    /// byte-level check first, then the parse and the full validation).
    pub fn check_payload(&self, payload: &[u8]) -> Result<(), (String, String)> {
        match self {
            Self::Json { .. } => {
                if self.accepts_json_text(payload) {
                    return Ok(());
                }
                let document: Value = serde_json::from_slice(payload)
                    .map_err(|e| (String::new(), format!("payload is not JSON: {e}")))?;
                self.check_json(&document)
            }
            Self::Avro(walk) => walk
                .check(payload)
                .map_err(|why| (String::new(), format!("payload does not decode: {why}"))),
        }
    }
}

/// Why a record's key or value does not match its subject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subject}: {message}")]
pub struct Violation {
    pub subject: String,
    /// The schema the data was checked against, when one was found.
    pub schema_id: Option<u32>,
    pub version: Option<u32>,
    /// JSON pointer of the first failing place (`""` is the whole document).
    pub pointer: String,
    pub message: String,
}

/// What one topic's produce requests are checked against, taken once per request.
#[derive(Debug, Clone)]
pub struct TopicCheck {
    pub mode: SchemaValidation,
    pub value: Option<Arc<SubjectView>>,
    pub key: Option<Arc<SubjectView>>,
    pub value_subject: String,
}

impl TopicCheck {
    /// Checks a value; answers the id of the schema it matched (`None` for a tombstone).
    pub fn check_value(
        &self,
        value: &[u8],
        value_is_json: bool,
        named_id: Option<&[u8]>,
    ) -> Result<Option<u32>, Violation> {
        if value.is_empty() || (value_is_json && value == b"null") {
            return Ok(None);
        }
        let Some(view) = self.value.as_deref().filter(|v| v.latest.is_some()) else {
            return Err(Violation {
                subject: self.value_subject.clone(),
                schema_id: None,
                version: None,
                pointer: String::new(),
                message: "no schema is registered for the subject".into(),
            });
        };
        check(self.mode, view, value, named_id).map(Some)
    }

    /// The latest value schema's byte-level plan under `json` validation, so that the produce
    /// path's parse of a JSON value checks it in the same pass ([`super::json_fast::scan`]).
    pub fn fast_value(&self) -> Option<(u32, &FastJson)> {
        if self.mode != SchemaValidation::Json {
            return None;
        }
        let view = self.value.as_deref()?;
        let (id, _) = view.latest?;
        match view.compiled(id)? {
            Compiled::Json {
                fast: Some(fast), ..
            } => Some((id, fast)),
            _ => None,
        }
    }

    /// Checks a key when the topic has a live `-key` subject; a null key passes.
    pub fn check_key(&self, key: Option<&[u8]>) -> Result<Option<u32>, Violation> {
        match (key, self.key.as_deref().filter(|v| v.latest.is_some())) {
            (Some(key), Some(view)) if !key.is_empty() => {
                check(self.mode, view, key, None).map(Some)
            }
            _ => Ok(None),
        }
    }
}

fn check(
    mode: SchemaValidation,
    view: &SubjectView,
    data: &[u8],
    named_id: Option<&[u8]>,
) -> Result<u32, Violation> {
    let violation =
        |id: Option<u32>, version: Option<u32>, (pointer, message): (String, String)| Violation {
            subject: view.subject.clone(),
            schema_id: id,
            version,
            pointer,
            message,
        };
    match mode {
        SchemaValidation::None => {
            unreachable!("Registry::check_for builds no TopicCheck without validation")
        }
        SchemaValidation::Json => {
            let (id, version) = match named_id {
                Some(text) => {
                    let id = std::str::from_utf8(text)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok())
                        .ok_or_else(|| {
                            violation(
                                None,
                                None,
                                (
                                    String::new(),
                                    "the wharf-schema-id header is not an id".into(),
                                ),
                            )
                        })?;
                    let version = view.version_of(id).ok_or_else(|| {
                        violation(
                            Some(id),
                            None,
                            (
                                String::new(),
                                format!("schema {id} is not a version of the subject"),
                            ),
                        )
                    })?;
                    (id, version)
                }
                None => view.latest.expect("the caller checked for a live version"),
            };
            let compiled = view.compiled(id).expect("a live version is compiled");
            if compiled.accepts_json_text(data) {
                return Ok(id);
            }
            // JSON values and JSON text in bytes alike; a key given as a plain string (stored
            // as its UTF-8 bytes) is read as that JSON string.
            let document = serde_json::from_slice::<Value>(data).or_else(|e| {
                std::str::from_utf8(data)
                    .map(|s| Value::String(s.to_owned()))
                    .map_err(|_| e)
            });
            let document = document.map_err(|e| {
                violation(
                    Some(id),
                    Some(version),
                    (String::new(), format!("not JSON: {e}")),
                )
            })?;
            compiled
                .check_json(&document)
                .map_err(|why| violation(Some(id), Some(version), why))?;
            Ok(id)
        }
        SchemaValidation::Registry => {
            if data.len() < 5 || data[0] != 0 {
                return Err(violation(
                    None,
                    None,
                    (
                        String::new(),
                        "not in the Confluent wire format (magic byte 0, 4-byte schema id)".into(),
                    ),
                ));
            }
            let id = u32::from_be_bytes([data[1], data[2], data[3], data[4]]);
            let version = view.version_of(id).ok_or_else(|| {
                violation(
                    Some(id),
                    None,
                    (
                        String::new(),
                        format!("schema {id} is not a version of the subject"),
                    ),
                )
            })?;
            let compiled = view.compiled(id).expect("a live version is compiled");
            compiled
                .check_payload(&data[5..])
                .map_err(|why| violation(Some(id), Some(version), why))?;
            Ok(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_schema_failures_point_at_the_first_failing_place() {
        let schema = r#"{"type":"object","properties":{"items":{"type":"array","items":{"type":"integer"}}}}"#;
        let compiled = Compiled::compile(SchemaType::Json, schema).unwrap();
        assert!(
            compiled
                .check_json(&serde_json::json!({"items":[1,2]}))
                .is_ok()
        );
        let (pointer, _) = compiled
            .check_json(&serde_json::json!({"items":[1,"two"]}))
            .unwrap_err();
        assert_eq!(pointer, "/items/1");
    }

    #[test]
    fn invalid_schemas_are_refused_at_compile_time() {
        assert!(Compiled::compile(SchemaType::Json, r#"{"type":"nonsense"}"#).is_err());
        assert!(Compiled::compile(SchemaType::Json, "[1]").is_err());
        assert!(Compiled::compile(SchemaType::Avro, r#"{"type":"record"}"#).is_err());
    }

    #[test]
    fn avro_payloads_must_decode_exactly() {
        let schema = r#"{"type":"record","name":"R","fields":[{"name":"n","type":"long"},{"name":"s","type":"string"}]}"#;
        let compiled = Compiled::compile(SchemaType::Avro, schema).unwrap();
        // zigzag(3) = 6, then "hi" as length 2 (zigzag 4) and the bytes.
        assert!(compiled.check_payload(&[6, 4, b'h', b'i']).is_ok());
        assert!(compiled.check_payload(&[6, 4, b'h']).is_err(), "truncated");
        assert!(
            compiled.check_payload(&[6, 4, b'h', b'i', 0]).is_err(),
            "trailing"
        );
    }
}

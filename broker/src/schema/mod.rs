//! Per-topic schemas: a registry Confluent clients can use, and the checks produce runs.
//! Synchronous and transport-free: the service layer calls it, the HTTP layer
//! (`api::schemas`) renders it.
//!
//! - here: the model ([`SchemaType`], [`Compatibility`], [`RegisteredSchema`]), subject names
//!   (Confluent's TopicNameStrategy: `<topic>-value`, `<topic>-key`) and [`SchemaError`].
//! - [`registry`]: [`Registry`], subjects with per-subject versions over global ids, soft
//!   deletes, compatibility per subject and global (default BACKWARD), checked on registration.
//! - `store`: the registry's two redb tables in the broker's metadata database, so schemas
//!   survive restarts.
//! - [`compat`]: compatibility of two schemas: Avro through apache-avro's
//!   `SchemaCompatibility`, JSON Schema by the rules documented there.
//! - [`validate`]: compiled schemas (cached per id: a registered schema never changes) and the
//!   check of one record's key or value ([`Violation`] names the schema and the failing place).
//! - [`json_fast`]: the byte-level check of JSON text against the common subset of JSON
//!   Schema; a valid record skips the parse into a `serde_json::Value`.
//! - [`avro_walk`]: the check of an Avro datum by walking its schema over the bytes, without
//!   decoding it into values.

pub mod avro_walk;
pub mod compat;
pub mod json_fast;
pub mod registry;
mod store;
pub mod validate;

use serde::{Deserialize, Serialize};

pub use registry::{Registry, SubjectView};
pub use validate::{Compiled, TopicCheck, Violation};

/// The header an accepted record carries: the id of the schema its value was checked against.
pub const SCHEMA_ID_HEADER: &str = "wharf-schema-id";
/// The same for the record's key, when the topic has a `-key` subject.
pub const KEY_SCHEMA_ID_HEADER: &str = "wharf-key-schema-id";

/// The format of a schema (Confluent's `schemaType`; absent means AVRO).
// `ToSchema`: the registry routes' OpenAPI bodies name these enums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SchemaType {
    Avro,
    Json,
}

impl SchemaType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avro => "AVRO",
            Self::Json => "JSON",
        }
    }

    /// Confluent's spelling; `None` (absent) is AVRO.
    pub fn parse(text: Option<&str>) -> Result<Self, SchemaError> {
        match text.map(str::to_ascii_uppercase).as_deref() {
            None | Some("AVRO") => Ok(Self::Avro),
            Some("JSON") => Ok(Self::Json),
            Some(other) => Err(SchemaError::InvalidSchema {
                message: format!("unsupported schema type {other:?}: use AVRO or JSON"),
            }),
        }
    }
}

/// A subject's compatibility mode, checked when a new version is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    None,
    /// New readers can read data written with the latest version (Confluent's default).
    #[default]
    Backward,
    BackwardTransitive,
    /// Data written with the new version can be read by readers of the latest version.
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl Compatibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    pub fn parse(text: &str) -> Result<Self, SchemaError> {
        serde_json::from_value(serde_json::Value::String(text.to_ascii_uppercase())).map_err(|_| {
            SchemaError::InvalidCompatibility {
                level: text.to_owned(),
            }
        })
    }

    /// Whether the new schema must read data of the old ones.
    pub fn backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    /// Whether readers of the old schemas must read data of the new one.
    pub fn forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    /// Whether every live version is checked, not only the latest.
    pub fn transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }
}

/// One version of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredSchema {
    pub subject: String,
    pub version: u32,
    /// Global id: the same schema under two subjects has one id.
    pub id: u32,
    pub schema_type: SchemaType,
    /// The text as registered.
    pub schema: String,
    /// Soft-deleted: kept (its id still resolves) but no longer a live version.
    pub deleted: bool,
}

/// Which side of a record a subject describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectSide {
    Key,
    Value,
}

/// The subject of a topic's key or value (TopicNameStrategy).
pub fn subject_name(topic: &str, side: SubjectSide) -> String {
    match side {
        SubjectSide::Key => format!("{topic}-key"),
        SubjectSide::Value => format!("{topic}-value"),
    }
}

/// The topic a subject belongs to under TopicNameStrategy (for authorisation); a subject of
/// another shape belongs to a topic of its own name.
pub fn subject_topic(subject: &str) -> &str {
    subject
        .strip_suffix("-value")
        .or_else(|| subject.strip_suffix("-key"))
        .unwrap_or(subject)
}

/// Longest subject name (a topic name plus `-value`).
pub const MAX_SUBJECT_LEN: usize = 255;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("subject {subject} not found")]
    SubjectNotFound { subject: String },
    #[error("version {version} of subject {subject} not found")]
    VersionNotFound { subject: String, version: String },
    #[error("schema {id} not found")]
    SchemaNotFound { id: String },
    #[error("invalid schema: {message}")]
    InvalidSchema { message: String },
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject { subject: String, reason: String },
    #[error("invalid version {version:?}: use a positive number or latest")]
    InvalidVersion { version: String },
    #[error("invalid compatibility level {level:?}")]
    InvalidCompatibility { level: String },
    #[error("schema is incompatible with {against} under {level}: {}", reasons.join("; "))]
    Incompatible {
        level: &'static str,
        against: String,
        reasons: Vec<String>,
    },
    #[error("schema registry store: {detail}")]
    Store { detail: String },
    #[error("schema registry record {key} is unreadable: {detail}")]
    Corruption { key: String, detail: String },
}

impl SchemaError {
    /// Confluent Schema Registry's error code for this error.
    pub fn confluent_code(&self) -> u32 {
        match self {
            Self::SubjectNotFound { .. } => 40401,
            Self::VersionNotFound { .. } => 40402,
            Self::SchemaNotFound { .. } => 40403,
            Self::InvalidSchema { .. } | Self::InvalidSubject { .. } => 42201,
            Self::InvalidVersion { .. } => 42202,
            Self::InvalidCompatibility { .. } => 42203,
            Self::Incompatible { .. } => 409,
            Self::Store { .. } | Self::Corruption { .. } => 50001,
        }
    }
}

/// A schema's text in a normal form, to recognise the same schema registered again: parsed as
/// JSON and written compactly with sorted keys (serde_json's map), so whitespace and key order
/// do not make a new version. Defaults and docs are kept: they matter to compatibility.
pub fn normal_form(text: &str) -> Result<String, SchemaError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SchemaError::InvalidSchema {
            message: format!("not JSON: {e}"),
        })?;
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_follow_the_topic_name_strategy() {
        assert_eq!(subject_name("orders", SubjectSide::Value), "orders-value");
        assert_eq!(subject_name("orders", SubjectSide::Key), "orders-key");
        assert_eq!(subject_topic("orders-value"), "orders");
        assert_eq!(subject_topic("orders-key"), "orders");
        assert_eq!(subject_topic("free-form"), "free-form");
    }

    #[test]
    fn compatibility_levels_parse_in_any_case_and_say_what_they_check() {
        assert_eq!(
            Compatibility::parse("full_transitive").unwrap(),
            Compatibility::FullTransitive
        );
        assert!(Compatibility::parse("SIDEWAYS").is_err());
        let full = Compatibility::Full;
        assert!(full.backward() && full.forward() && !full.transitive());
        assert!(!Compatibility::None.backward() && !Compatibility::None.forward());
        assert_eq!(Compatibility::default(), Compatibility::Backward);
    }

    #[test]
    fn normal_form_ignores_whitespace_and_key_order_only() {
        assert_eq!(
            normal_form(r#"{ "b": 1, "a": [1, 2] }"#).unwrap(),
            normal_form(r#"{"a":[1,2],"b":1}"#).unwrap()
        );
        assert_ne!(
            normal_form(r#"{"a":1}"#).unwrap(),
            normal_form(r#"{"a":2}"#).unwrap()
        );
        assert!(normal_form("{nope").is_err());
    }
}

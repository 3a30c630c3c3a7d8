//! Records going out ([`Record`]) and coming back ([`ConsumerRecord`]), and their mapping to the
//! wire types of `wharf_proto::api`.
//!
//! A value is bytes plus a [`ValueFormat`]: JSON values travel as `value` (and the broker
//! remembers they were JSON), anything else as `value_b64`. Keys travel as `key` when they are
//! UTF-8 (the broker stores a JSON string key as its UTF-8 bytes, as Kafka's StringSerializer
//! would) and as `key_b64` otherwise, so the bytes the partitioner hashes are the same on both
//! sides.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use wharf_proto::api::{FetchedRecord, ProduceRecord};

use crate::error::Error;

/// How a value is encoded on the wire and remembered by the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueFormat {
    /// The bytes are compact JSON text; sent as `value`, fetched back as `value`.
    Json,
    /// Opaque bytes; sent as `value_b64`.
    Bytes,
}

/// A record to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Optional key: keyed records go to `murmur2(key) % partitions`, as in Kafka.
    pub key: Option<Bytes>,
    /// The value bytes (JSON text when `value_format` is [`ValueFormat::Json`]).
    pub value: Bytes,
    /// How `value` is sent.
    pub value_format: ValueFormat,
    /// String headers.
    pub headers: BTreeMap<String, String>,
    /// Explicit partition; otherwise by key, or sticky for keyless records.
    pub partition: Option<u32>,
    /// Milliseconds since the Unix epoch; the broker's clock when absent.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// A record whose value is raw bytes (sent as `value_b64`).
    pub fn bytes(value: impl Into<Bytes>) -> Self {
        Self {
            key: None,
            value: value.into(),
            value_format: ValueFormat::Bytes,
            headers: BTreeMap::new(),
            partition: None,
            timestamp_ms: None,
        }
    }

    /// A record whose value is `value` serialized as JSON (sent as `value`).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        let text = serde_json::to_vec(value)?;
        Ok(Self {
            value_format: ValueFormat::Json,
            ..Self::bytes(text)
        })
    }

    /// A record whose value is JSON text; fails unless `text` is one valid JSON value.
    pub fn json_text(text: impl Into<String>) -> Result<Self, serde_json::Error> {
        let text = text.into();
        // Validate and compact once here, so the batch never holds invalid JSON.
        let value: serde_json::Value = serde_json::from_str(&text)?;
        Self::json(&value)
    }

    /// Sets the key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }

    /// Pins the record to a partition.
    #[must_use]
    pub fn with_partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp (ms since the Unix epoch).
    #[must_use]
    pub fn with_timestamp_ms(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Approximate bytes of this record in a request body: what batching and the producer's
    /// memory bound count.
    pub fn encoded_bytes(&self) -> usize {
        let key = self.key.as_ref().map_or(0, |k| k.len() * 4 / 3 + 12);
        let value = match self.value_format {
            ValueFormat::Json => self.value.len() + 10,
            ValueFormat::Bytes => self.value.len().div_ceil(3) * 4 + 14,
        };
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum();
        key + value + headers + 48
    }

    /// The wire form of this record.
    pub fn to_wire(&self) -> Result<ProduceRecord, Error> {
        let (key, key_b64) = match &self.key {
            None => (None, None),
            Some(k) => match std::str::from_utf8(k) {
                Ok(text) => (Some(serde_json::Value::String(text.to_owned())), None),
                Err(_) => (None, Some(B64.encode(k))),
            },
        };
        let (value, value_b64) = match self.value_format {
            ValueFormat::Json => {
                let text =
                    String::from_utf8(self.value.to_vec()).map_err(|_| Error::InvalidInput {
                        message: "a JSON value must be UTF-8".to_owned(),
                    })?;
                let raw = RawValue::from_string(text).map_err(|e| Error::InvalidInput {
                    message: format!("value is not valid JSON: {e}"),
                })?;
                (Some(raw), None)
            }
            ValueFormat::Bytes => (None, Some(B64.encode(&self.value))),
        };
        Ok(ProduceRecord {
            key,
            key_b64,
            value,
            value_b64,
            headers: (!self.headers.is_empty()).then(|| self.headers.clone()),
            partition: self.partition,
            timestamp: self.timestamp_ms,
        })
    }
}

/// A record read from the broker, by a plain fetch or a group poll.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRecord {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Bytes,
    /// Whether the value was produced as JSON.
    pub value_format: ValueFormat,
    pub headers: BTreeMap<String, String>,
    /// A presigned URL for a claim-check pointer's object, when the broker was asked for one.
    pub value_url: Option<String>,
    /// Ownership epoch of the partition when this record was polled by a group member (`None`
    /// for plain fetches); commits carry it.
    pub epoch: Option<u64>,
}

impl ConsumerRecord {
    /// Decodes a fetched record of `topic`/`partition`.
    pub fn from_wire(
        topic: &str,
        partition: u32,
        epoch: Option<u64>,
        r: FetchedRecord,
    ) -> Result<Self, Error> {
        let decode_err = |what: &str, e: base64::DecodeError| Error::Decode {
            operation: format!("fetch {topic}/{partition}"),
            status: 200,
            message: format!("{what} of offset {} is not base64: {e}", r.offset),
        };
        let key = match (r.key, &r.key_b64) {
            (Some(k), _) => Some(Bytes::from(k.into_bytes())),
            (None, Some(b)) => Some(Bytes::from(
                B64.decode(b).map_err(|e| decode_err("key_b64", e))?,
            )),
            (None, None) => None,
        };
        let (value, value_format) = match (r.value, &r.value_b64) {
            (Some(raw), _) => (
                Bytes::from(String::from(Box::<str>::from(raw)).into_bytes()),
                ValueFormat::Json,
            ),
            (None, Some(b)) => (
                Bytes::from(B64.decode(b).map_err(|e| decode_err("value_b64", e))?),
                ValueFormat::Bytes,
            ),
            (None, None) => (Bytes::new(), ValueFormat::Bytes),
        };
        Ok(Self {
            topic: topic.to_owned(),
            partition,
            offset: r.offset,
            timestamp_ms: r.timestamp,
            key,
            value,
            value_format,
            headers: r.headers,
            value_url: r.value_url,
            epoch,
        })
    }

    /// A record of a binary fetch answer (plain fetches carry no epoch). Header values are
    /// read as UTF-8, replacing invalid sequences, as the broker's JSON answers do.
    pub fn from_binary(topic: &str, partition: u32, r: wharf_proto::binary::FetchedRecord) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
            offset: r.offset,
            timestamp_ms: r.timestamp_ms,
            key: r.key,
            value: r.value,
            value_format: if r.value_is_json {
                ValueFormat::Json
            } else {
                ValueFormat::Bytes
            },
            headers: r
                .headers
                .into_iter()
                .map(|h| (h.name, String::from_utf8_lossy(&h.value).into_owned()))
                .collect(),
            value_url: r.value_url,
            epoch: None,
        }
    }

    /// Deserializes the value as JSON (works for byte values that hold JSON text too).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.value)
    }

    /// The value as text, if it is UTF-8.
    pub fn value_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    /// The key as text, if there is one and it is UTF-8.
    pub fn key_text(&self) -> Option<&str> {
        self.key
            .as_deref()
            .and_then(|k| std::str::from_utf8(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_go_as_value_and_bytes_as_base64() {
        let r = Record::json(&serde_json::json!({"a": 1}))
            .unwrap()
            .with_key("k");
        let wire = serde_json::to_value(r.to_wire().unwrap()).unwrap();
        assert_eq!(wire, serde_json::json!({"key": "k", "value": {"a": 1}}));

        let r = Record::bytes(vec![0u8, 1, 2]).with_key(vec![0xffu8]);
        let wire = serde_json::to_value(r.to_wire().unwrap()).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"key_b64": "/w==", "value_b64": "AAEC"})
        );
    }

    #[test]
    fn json_text_is_validated_and_compacted() {
        assert!(Record::json_text("{not json").is_err());
        let r = Record::json_text("{ \"a\" : [1, 2] }").unwrap();
        assert_eq!(r.value.as_ref(), br#"{"a":[1,2]}"#);
    }

    #[test]
    fn fetched_records_decode_keys_values_and_formats() {
        let wire: FetchedRecord = serde_json::from_str(
            r#"{"offset":7,"timestamp":9,"key_b64":"/w==","value_b64":"AAEC","headers":{"h":"v"}}"#,
        )
        .unwrap();
        let r = ConsumerRecord::from_wire("t", 1, None, wire).unwrap();
        assert_eq!(r.key.as_deref(), Some(&[0xffu8][..]));
        assert_eq!(r.value.as_ref(), &[0u8, 1, 2]);
        assert_eq!(r.value_format, ValueFormat::Bytes);
        assert_eq!(r.headers["h"], "v");

        let wire: FetchedRecord =
            serde_json::from_str(r#"{"offset":8,"timestamp":9,"key":"k","value":{"x":true}}"#)
                .unwrap();
        let r = ConsumerRecord::from_wire("t", 1, Some(3), wire).unwrap();
        assert_eq!(r.key_text(), Some("k"));
        assert_eq!(r.json::<serde_json::Value>().unwrap()["x"], true);
        assert_eq!(r.value_format, ValueFormat::Json);
        assert_eq!(r.epoch, Some(3));
    }

    #[test]
    fn bad_base64_is_a_decode_error() {
        let wire: FetchedRecord =
            serde_json::from_str(r#"{"offset":1,"timestamp":0,"value_b64":"!!"}"#).unwrap();
        let err = ConsumerRecord::from_wire("t", 0, None, wire).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err}");
    }
}

//! Record types as callers see them.

use bytes::Bytes;

/// One record header. Keys are strings, values raw bytes (as Kafka).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Bytes,
}

/// A record to append; the log assigns its offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub headers: Vec<Header>,
    /// The value is the compact encoding of a JSON document (so readers can return it as JSON).
    pub value_is_json: bool,
}

/// A stored record. `key`, `value` and header values share the buffer the batch was read into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub headers: Vec<Header>,
    pub value_is_json: bool,
}

impl NewRecord {
    /// Bytes of key, value and headers: what counts against `max_record_bytes`, and what an
    /// append copies (framing aside).
    pub fn payload_bytes(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.len())
            .sum();
        self.key.as_ref().map_or(0, Bytes::len) + self.value.len() + headers
    }
}

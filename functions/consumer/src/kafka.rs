//! Lambda's Kafka event (what an MSK or self-managed Kafka trigger delivers) and the partial
//! batch response.
//!
//! ```json
//! {"eventSource":"SelfManagedKafka","bootstrapServers":"http://broker:8080",
//!  "records":{"orders-0":[{"topic":"orders","partition":0,"offset":15,"timestamp":1545084650987,
//!    "timestampType":"CREATE_TIME","key":"b3JkZXItNDI=","value":"eyJpZCI6NDJ9",
//!    "headers":[{"trace-id":[97,98,99]}]}]}}
//! ```
//! Keys and values are base64; header values are byte arrays. A record without a key has no
//! `key` field.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wharf_client::ConsumerRecord;

/// The batch handed to a handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaEvent {
    /// `SelfManagedKafka` (what Lambda sends for a non-MSK Kafka source).
    pub event_source: String,
    /// The broker URL.
    pub bootstrap_servers: String,
    /// Records per `"<topic>-<partition>"`, in offset order.
    pub records: BTreeMap<String, Vec<KafkaRecord>>,
}

/// One record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaRecord {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// `CREATE_TIME` (the producer's timestamp or the broker's clock at append).
    pub timestamp_type: String,
    /// Base64 key; absent for keyless records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Base64 value.
    pub value: String,
    /// `[{"name":[bytes...]}]`, one object per header.
    pub headers: Vec<BTreeMap<String, Vec<u8>>>,
}

impl KafkaRecord {
    /// The Lambda shape of a polled record.
    pub fn from_record(r: &ConsumerRecord) -> Self {
        Self {
            topic: r.topic.clone(),
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp_ms,
            timestamp_type: "CREATE_TIME".to_owned(),
            key: r.key.as_ref().map(|k| B64.encode(k)),
            value: B64.encode(&r.value),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| BTreeMap::from([(k.clone(), v.as_bytes().to_vec())]))
                .collect(),
        }
    }

    /// The decoded value bytes.
    pub fn value_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        B64.decode(&self.value)
    }

    /// The decoded key bytes.
    pub fn key_bytes(&self) -> Option<Result<Vec<u8>, base64::DecodeError>> {
        self.key.as_ref().map(|k| B64.decode(k))
    }

    /// A header's value as text, if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find_map(|h| h.get(name))
            .and_then(|v| String::from_utf8(v.clone()).ok())
    }
}

impl KafkaEvent {
    /// The event for `records` (already in offset order per partition).
    pub fn from_records<'a>(
        bootstrap_servers: &str,
        records: impl IntoIterator<Item = &'a ConsumerRecord>,
    ) -> Self {
        let mut map: BTreeMap<String, Vec<KafkaRecord>> = BTreeMap::new();
        for r in records {
            map.entry(format!("{}-{}", r.topic, r.partition))
                .or_default()
                .push(KafkaRecord::from_record(r));
        }
        Self {
            event_source: "SelfManagedKafka".to_owned(),
            bootstrap_servers: bootstrap_servers.to_owned(),
            records: map,
        }
    }

    /// Every record, partition by partition.
    pub fn iter(&self) -> impl Iterator<Item = &KafkaRecord> {
        self.records.values().flatten()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.values().map(Vec::len).sum()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A record the handler failed: `{"partition","offset"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ItemIdentifier {
    pub partition: u32,
    pub offset: u64,
}

/// `{"batchItemFailures":[{"itemIdentifier":{"partition","offset"}}]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchResponse {
    /// Records to retry; every other record of the batch counts as handled.
    pub failures: Vec<ItemIdentifier>,
}

impl BatchResponse {
    /// Every record handled.
    pub fn ok() -> Self {
        Self::default()
    }

    /// Fails the given records.
    pub fn failed(failures: impl IntoIterator<Item = ItemIdentifier>) -> Self {
        Self {
            failures: failures.into_iter().collect(),
        }
    }

    /// The JSON a handler returns.
    pub fn to_json(&self) -> Value {
        let items: Vec<Value> = self
            .failures
            .iter()
            .map(|f| serde_json::json!({"itemIdentifier": {"partition": f.partition, "offset": f.offset}}))
            .collect();
        serde_json::json!({ "batchItemFailures": items })
    }

    /// Reads a handler's answer. `null`, `{}` or a missing list mean success (as Lambda treats
    /// them); partition and offset may be numbers or numeric strings, and a partition may also
    /// be written `"<topic>-<partition>"`. Anything else malformed is an error: silently
    /// treating it as success would lose records.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let Some(items) = value.get("batchItemFailures") else {
            return Ok(Self::ok());
        };
        let Some(items) = items.as_array() else {
            if items.is_null() {
                return Ok(Self::ok());
            }
            return Err("batchItemFailures is not a list".to_owned());
        };
        let mut failures = Vec::with_capacity(items.len());
        for item in items {
            let id = item
                .get("itemIdentifier")
                .ok_or_else(|| format!("batch item failure without itemIdentifier: {item}"))?;
            let partition = number(id.get("partition"), true)
                .ok_or_else(|| format!("itemIdentifier without a usable partition: {id}"))?;
            let offset = number(id.get("offset"), false)
                .ok_or_else(|| format!("itemIdentifier without a usable offset: {id}"))?;
            let partition =
                u32::try_from(partition).map_err(|_| format!("partition out of range: {id}"))?;
            failures.push(ItemIdentifier { partition, offset });
        }
        Ok(Self { failures })
    }
}

fn number(v: Option<&Value>, allow_topic_prefix: bool) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok().or_else(|| {
            allow_topic_prefix
                .then(|| s.rsplit_once('-').and_then(|(_, p)| p.parse().ok()))
                .flatten()
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use serde_json::json;
    use wharf_client::ValueFormat;

    #[test]
    fn records_have_the_lambda_kafka_shape() {
        let r = ConsumerRecord {
            topic: "orders".into(),
            partition: 2,
            offset: 15,
            timestamp_ms: 1_545_084_650_987,
            key: Some(Bytes::from_static(b"order-42")),
            value: Bytes::from_static(br#"{"id":42}"#),
            value_format: ValueFormat::Json,
            headers: [("trace-id".to_owned(), "abc".to_owned())].into(),
            value_url: None,
            epoch: Some(1),
        };
        let event = KafkaEvent::from_records("http://b", [&r]);
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            json!({"eventSource":"SelfManagedKafka","bootstrapServers":"http://b","records":{"orders-2":[
                {"topic":"orders","partition":2,"offset":15,"timestamp":1_545_084_650_987_i64,"timestampType":"CREATE_TIME",
                 "key":"b3JkZXItNDI=","value":"eyJpZCI6NDJ9","headers":[{"trace-id":[97,98,99]}]}]}})
        );
    }

    #[test]
    fn batch_responses_are_read_leniently_but_never_silently_wrong() {
        assert_eq!(
            BatchResponse::from_json(&Value::Null).unwrap(),
            BatchResponse::ok()
        );
        assert_eq!(
            BatchResponse::from_json(&json!({"batchItemFailures":[]})).unwrap(),
            BatchResponse::ok()
        );
        let r = BatchResponse::from_json(&json!({"batchItemFailures":[
            {"itemIdentifier":{"partition":1,"offset":7}},
            {"itemIdentifier":{"partition":"orders-2","offset":"9"}}]}))
        .unwrap();
        assert_eq!(
            r.failures,
            [
                ItemIdentifier {
                    partition: 1,
                    offset: 7
                },
                ItemIdentifier {
                    partition: 2,
                    offset: 9
                }
            ]
        );
        assert!(
            BatchResponse::from_json(&json!({"batchItemFailures":[{"itemIdentifier":"x"}]}))
                .is_err()
        );
        assert_eq!(BatchResponse::from_json(&r.to_json()).unwrap(), r);
    }
}

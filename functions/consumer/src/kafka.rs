//! Lambda's Kafka event (what an MSK or self-managed Kafka trigger delivers) and the partial
//! batch response.
//!
//! ```json
//! {"eventSource":"SelfManagedKafka","bootstrapServers":"http://broker:8080",
//!  "records":{"orders-0":[{"topic":"orders","partition":0,"offset":15,"timestamp":1545084650987,
//!    "timestampType":"CREATE_TIME","key":"b3JkZXItNDI=","value":"eyJpZCI6NDJ9",
//!    "headers":[{"trace-id":[97,98,99]}]}]}}
//! ```
//! Keys and values are base64; header values are byte arrays of *signed* bytes, as Lambda
//! sends them (its poller is Java: `ë` is `[-61,-85]`). A record without a key has no `key`
//! field.
//!
//! The event types are `aws_lambda_events`' ([`KafkaEvent`], [`KafkaRecord`]); this module adds
//! what Wharf needs and the crate lacks: building an event from polled records
//! ([`event_from_records`]), the exact JSON Lambda sends ([`lambda_json`]: the crate's own
//! `Serialize` writes the timestamp as a string and `null` for absent fields, which no Lambda
//! trigger does), decoding helpers ([`KafkaRecordExt`], [`KafkaEventExt`]) and the batch
//! response, which the crate does not model for Kafka.

use std::collections::{BTreeMap, HashMap};

use aws_lambda_events::encodings::MillisecondTimestamp;
pub use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use serde_json::Value;
use wharf_client::ConsumerRecord;

/// What Lambda sends as `eventSource` for a non-MSK Kafka source.
pub const EVENT_SOURCE: &str = "SelfManagedKafka";
/// Wharf timestamps are the producer's or the broker's clock at append: Kafka's `CREATE_TIME`.
pub const TIMESTAMP_TYPE: &str = "CREATE_TIME";

/// The Lambda shape of a polled record.
pub fn record_from_polled(r: &ConsumerRecord) -> KafkaRecord {
    let mut k = KafkaRecord::default();
    k.topic = Some(r.topic.clone());
    k.partition = i64::from(r.partition);
    // Kafka offsets are i64 too; a broker offset past i64::MAX cannot happen.
    k.offset = i64::try_from(r.offset).unwrap_or(i64::MAX);
    // Out of chrono's range (±262 000 years) only for a corrupt timestamp: the epoch then.
    k.timestamp = MillisecondTimestamp(
        chrono::DateTime::from_timestamp_millis(r.timestamp_ms).unwrap_or_default(),
    );
    k.timestamp_type = Some(TIMESTAMP_TYPE.to_owned());
    k.key = r.key.as_ref().map(|key| B64.encode(key));
    k.value = Some(B64.encode(&r.value));
    k.headers = r
        .headers
        .iter()
        .map(|(name, v)| HashMap::from([(name.clone(), v.bytes().map(|b| b as i8).collect())]))
        .collect();
    k
}

/// The event for `records` (already in offset order per partition), keyed `"<topic>-<partition>"`.
pub fn event_from_records<'a>(
    bootstrap_servers: &str,
    records: impl IntoIterator<Item = &'a ConsumerRecord>,
) -> KafkaEvent {
    let mut event = KafkaEvent::default();
    for r in records {
        event
            .records
            .entry(format!("{}-{}", r.topic, r.partition))
            .or_default()
            .push(record_from_polled(r));
    }
    event.event_source = Some(EVENT_SOURCE.to_owned());
    event.bootstrap_servers = Some(bootstrap_servers.to_owned());
    event
}

/// The event as Lambda writes it (and as Wharf always has): fields in Lambda's order, absent
/// ones left out rather than `null`, the timestamp a number, partitions sorted by key.
pub fn lambda_json(event: &KafkaEvent) -> impl Serialize + std::fmt::Debug + '_ {
    WireEvent {
        event_source: event.event_source.as_deref(),
        event_source_arn: event.event_source_arn.as_deref(),
        bootstrap_servers: event.bootstrap_servers.as_deref(),
        records: event
            .records
            .iter()
            .map(|(tp, records)| (tp.as_str(), records.iter().map(WireRecord::of).collect()))
            .collect(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event_source: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_source_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bootstrap_servers: Option<&'a str>,
    records: BTreeMap<&'a str, Vec<WireRecord<'a>>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRecord<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<&'a str>,
    partition: i64,
    offset: i64,
    /// Milliseconds since the Unix epoch.
    timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    headers: &'a [HashMap<String, Vec<i8>>],
}

impl<'a> WireRecord<'a> {
    fn of(r: &'a KafkaRecord) -> Self {
        Self {
            topic: r.topic.as_deref(),
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp.timestamp_millis(),
            timestamp_type: r.timestamp_type.as_deref(),
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: &r.headers,
        }
    }
}

/// Decoding helpers on a record.
pub trait KafkaRecordExt {
    /// The decoded value bytes (empty for a record without a value).
    fn value_bytes(&self) -> Result<Vec<u8>, base64::DecodeError>;
    /// The decoded key bytes; `None` for a keyless record.
    fn key_bytes(&self) -> Option<Result<Vec<u8>, base64::DecodeError>>;
    /// A header's value as text, if present and UTF-8.
    fn header(&self, name: &str) -> Option<String>;
}

impl KafkaRecordExt for KafkaRecord {
    fn value_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        B64.decode(self.value.as_deref().unwrap_or_default())
    }

    fn key_bytes(&self) -> Option<Result<Vec<u8>, base64::DecodeError>> {
        self.key.as_ref().map(|k| B64.decode(k))
    }

    fn header(&self, name: &str) -> Option<String> {
        let signed = self.headers.iter().find_map(|h| h.get(name))?;
        String::from_utf8(signed.iter().map(|&b| b as u8).collect()).ok()
    }
}

/// Walking an event's records.
pub trait KafkaEventExt {
    /// Every record, partition by partition in key order (the crate's map is unordered), each
    /// partition in offset order.
    fn iter(&self) -> impl Iterator<Item = &KafkaRecord>;
    /// Number of records.
    fn len(&self) -> usize;
    /// Whether the batch is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl KafkaEventExt for KafkaEvent {
    fn iter(&self) -> impl Iterator<Item = &KafkaRecord> {
        let mut partitions: Vec<_> = self.records.iter().collect();
        partitions.sort_unstable_by_key(|(tp, _)| tp.as_str());
        partitions.into_iter().flat_map(|(_, records)| records)
    }

    fn len(&self) -> usize {
        self.records.values().map(Vec::len).sum()
    }
}

/// A record the handler failed: `{"partition","offset"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ItemIdentifier {
    pub partition: u32,
    pub offset: u64,
}

impl From<&KafkaRecord> for ItemIdentifier {
    /// The crate's i64s are wider than Kafka's partitions (i32) and offsets (never negative):
    /// an impossible value saturates instead of panicking, and the engine then warns that the
    /// identifier names no record of the batch.
    fn from(r: &KafkaRecord) -> Self {
        Self {
            partition: u32::try_from(r.partition).unwrap_or(u32::MAX),
            offset: u64::try_from(r.offset).unwrap_or(u64::MAX),
        }
    }
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

    fn polled(offset: u64, key: Option<&'static [u8]>, trace_id: &str) -> ConsumerRecord {
        ConsumerRecord {
            topic: "orders".into(),
            partition: 2,
            offset,
            timestamp_ms: 1_545_084_650_987,
            key: key.map(Bytes::from_static),
            value: Bytes::from_static(br#"{"id":42}"#),
            value_format: ValueFormat::Json,
            headers: [("trace-id".to_owned(), trace_id.to_owned())].into(),
            value_url: None,
            epoch: Some(1),
        }
    }

    #[test]
    fn records_have_the_lambda_kafka_shape() {
        let r = polled(15, Some(b"order-42"), "abc");
        let event = event_from_records("http://b", [&r]);
        assert_eq!(
            serde_json::to_value(lambda_json(&event)).unwrap(),
            json!({"eventSource":"SelfManagedKafka","bootstrapServers":"http://b","records":{"orders-2":[
                {"topic":"orders","partition":2,"offset":15,"timestamp":1_545_084_650_987_i64,"timestampType":"CREATE_TIME",
                 "key":"b3JkZXItNDI=","value":"eyJpZCI6NDJ9","headers":[{"trace-id":[97,98,99]}]}]}})
        );
        // Field order as Lambda (and Wharf before the crate's types) writes it.
        assert!(
            serde_json::to_string(&lambda_json(&event))
                .unwrap()
                .starts_with(r#"{"eventSource":"SelfManagedKafka","bootstrapServers":"http://b","records":{"orders-2":[{"topic":"orders","partition":2,"#)
        );
    }

    #[test]
    fn keyless_records_have_no_key_and_header_bytes_are_signed_as_lambda_sends_them() {
        let r = polled(16, None, "ë");
        let json =
            serde_json::to_value(lambda_json(&event_from_records("http://b", [&r]))).unwrap();
        let record = &json["records"]["orders-2"][0];
        assert_eq!(record.get("key"), None);
        assert_eq!(record["headers"], json!([{"trace-id": [-61, -85]}]));
        let back: KafkaRecord = serde_json::from_value(record.clone()).unwrap();
        assert_eq!(back.header("trace-id").as_deref(), Some("ë"));
        assert_eq!(back.key_bytes(), None);
        assert_eq!(back.value_bytes().unwrap(), br#"{"id":42}"#);
    }

    #[test]
    fn what_wharf_sends_reads_back_as_the_same_event() {
        let (a, b) = (polled(7, Some(b"k"), "t"), polled(8, None, "u"));
        let event = event_from_records("http://b", [&a, &b]);
        let back: KafkaEvent =
            serde_json::from_value(serde_json::to_value(lambda_json(&event)).unwrap()).unwrap();
        // aws_lambda_events 1.2 reads millisecond timestamps through f64 seconds and can lose a
        // millisecond (…987 reads back as …986): only a deserializing handler sees that, Wharf
        // sends the exact value. Everything else must survive exactly.
        let mut back = back;
        for r in back.records.values_mut().flatten() {
            let lost_ms = a.timestamp_ms - r.timestamp.timestamp_millis();
            assert!((0..=1).contains(&lost_ms), "{lost_ms}");
            r.timestamp = event.records["orders-2"][0].timestamp.clone();
        }
        assert_eq!(back, event);
        assert_eq!(back.iter().map(|r| r.offset).collect::<Vec<_>>(), [7, 8]);
        assert_eq!(
            ItemIdentifier::from(&back.records["orders-2"][1]),
            ItemIdentifier {
                partition: 2,
                offset: 8
            }
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

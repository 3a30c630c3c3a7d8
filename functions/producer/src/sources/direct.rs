//! Direct invocation: `{"topic"?, "records":[...], "idempotency_key"?}`.
//!
//! Records have the shape of `POST /v1/topics/{topic}/records` (`key`/`key_b64`,
//! `value`/`value_b64`, `headers`, `partition`, `timestamp`). `topic` defaults to `WHARF_TOPIC`.
//! The idempotency key is `invoke:<idempotency_key>` when the caller gives one, else
//! `invoke:<Lambda request id>` (which Lambda keeps across its retries of an asynchronous
//! invocation). Refused records are reported per record in `results`, as the broker does; a
//! failed call is a function error.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use wharf_client::wharf_proto::api::{ProduceRecord, into_key_bytes};
use wharf_client::{Record, ValueFormat};
use wharf_functions_shared::derived_key;

use crate::error::ProducerError;
use crate::handler::{Handler, Invocation, results_json};
use crate::sink::Sink;
use crate::sources::SOURCE_HEADER;

const KIND: &str = "direct";

/// The direct-invocation payload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectRequest {
    /// Topic; `WHARF_TOPIC` when absent.
    #[serde(default)]
    pub topic: Option<String>,
    /// Records in the HTTP API's produce shape.
    pub records: Vec<ProduceRecord>,
    /// Caller-chosen idempotency key; the Lambda request id when absent.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

fn invalid(message: String) -> ProducerError {
    ProducerError::InvalidEvent {
        kind: KIND,
        code: "invalid_records",
        message,
    }
}

/// Handles the invocation.
pub async fn handle<S: Sink>(
    h: &Handler<S>,
    event: Value,
    inv: &Invocation,
) -> Result<Value, ProducerError> {
    let request: DirectRequest =
        serde_json::from_value(event).map_err(|e| invalid(e.to_string()))?;
    if request.records.is_empty() {
        return Err(invalid("records is empty".to_owned()));
    }
    let topic = h.topic_or_default(request.topic.clone(), KIND)?;
    let records = request
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| from_wire(r).map_err(|m| invalid(format!("record {i}: {m}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let base = request
        .idempotency_key
        .unwrap_or_else(|| inv.request_id.clone());
    let answer = h
        .produce(&topic, records, &derived_key("invoke", &[&base]))
        .await?;
    Ok(results_json(&topic, &answer))
}

/// The inverse of `Record::to_wire`.
fn from_wire(r: ProduceRecord) -> Result<Record, String> {
    let mut record = match (r.value, r.value_b64) {
        (Some(raw), None) => Record {
            value_format: ValueFormat::Json,
            ..Record::bytes(Bytes::from(
                String::from(Box::<str>::from(raw)).into_bytes(),
            ))
        },
        (None, Some(b)) => Record::bytes(
            B64.decode(b)
                .map_err(|e| format!("value_b64 is not base64: {e}"))?,
        ),
        (Some(_), Some(_)) => return Err("give value or value_b64, not both".to_owned()),
        (None, None) => return Err("value or value_b64 is required".to_owned()),
    };
    record.key = match (r.key, r.key_b64) {
        (Some(_), Some(_)) => return Err("give key or key_b64, not both".to_owned()),
        (Some(json), None) => into_key_bytes(json).map(Bytes::from),
        (None, Some(b)) => Some(Bytes::from(
            B64.decode(b)
                .map_err(|e| format!("key_b64 is not base64: {e}"))?,
        )),
        (None, None) => None,
    };
    record.headers = r.headers.unwrap_or_default();
    record
        .headers
        .entry(SOURCE_HEADER.to_owned())
        .or_insert_with(|| KIND.to_owned());
    record.partition = r.partition;
    record.timestamp_ms = r.timestamp;
    Ok(record)
}

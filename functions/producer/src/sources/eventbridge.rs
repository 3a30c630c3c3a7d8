//! EventBridge events: `detail` becomes the value.
//!
//! - Topic: `WHARF_TOPIC`. Key: the `WHARF_KEY_POINTER` target in `detail`, else none.
//! - Headers: `wharf-source: eventbridge`, `detail-type`, `source` (the event's), `event-id`.
//!   Timestamp: the event's `time`.
//! - Idempotency key `eventbridge:<id>`: EventBridge retries deliver the same id.
//! - Any failure fails the invocation, so EventBridge / Lambda retry it.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde_json::Value;
use wharf_client::Record;
use wharf_functions_shared::derived_key;

use crate::error::ProducerError;
use crate::handler::{Handler, key_at, results_json};
use crate::sink::Sink;
use crate::sources::SOURCE_HEADER;

const KIND: &str = "eventbridge";

/// Handles the event; the answer carries the record's offset.
pub async fn handle<S: Sink>(h: &Handler<S>, event: Value) -> Result<Value, ProducerError> {
    let invalid = |message: String| ProducerError::InvalidEvent {
        kind: KIND,
        code: "invalid_event",
        message,
    };
    let event: EventBridgeEvent<Value> =
        serde_json::from_value(event).map_err(|e| invalid(e.to_string()))?;
    let id = event
        .id
        .clone()
        .ok_or_else(|| invalid("the event has no id".to_owned()))?;
    let topic = h.topic_or_default(None, KIND)?;
    let mut record = Record::json(&event.detail)
        .map_err(|e| invalid(e.to_string()))?
        .with_header(SOURCE_HEADER, KIND)
        .with_header("detail-type", event.detail_type.clone())
        .with_header("source", event.source.clone())
        .with_header("event-id", id.clone());
    if let Some(time) = event.time {
        record = record.with_timestamp_ms(time.timestamp_millis());
    }
    if let Some(key) = h
        .config
        .key_pointer
        .as_deref()
        .and_then(|p| key_at(&event.detail, p))
    {
        record = record.with_key(key);
    }
    let answer = h
        .produce_all(&topic, vec![record], &derived_key("eventbridge", &[&id]))
        .await?;
    Ok(results_json(&topic, &answer))
}

//! SQS batches: one record per message, partial batch failures.
//!
//! - Topic: the message attribute `wharf-topic`, else `WHARF_TOPIC`.
//! - Key: the message attribute `wharf-key`, else the FIFO `MessageGroupId`, else the
//!   `WHARF_KEY_POINTER` target in a JSON body, else none.
//! - Value: the body as JSON when it parses, else its bytes. Headers: `wharf-source: sqs`,
//!   `sqs-message-id`, and every other String message attribute. Timestamp: `SentTimestamp`.
//! - One produce request per message under `sqs:<messageId>`, so a redelivered message (after a
//!   crash, a timeout, or because another message of its batch failed) is answered from the
//!   broker's memory and never appended twice, however SQS regroups messages into batches.
//! - Standard queues: messages are produced concurrently. FIFO queues: one at a time in batch
//!   order, and after the first failure the rest of the batch is reported failed without being
//!   produced, as AWS requires so that a message group stays in order.
//! - Answer: `{"batchItemFailures":[{"itemIdentifier":"<messageId>"}]}` (requires
//!   `ReportBatchItemFailures` on the event source mapping).

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use wharf_client::Record;
use wharf_functions_shared::derived_key;

use crate::error::ProducerError;
use crate::handler::{Handler, key_at};
use crate::sink::Sink;
use crate::sources::SOURCE_HEADER;

const KIND: &str = "sqs";

/// Handles a batch; only an unreadable event is an error (then Lambda retries the whole batch).
pub async fn handle<S: Sink>(h: &Handler<S>, event: Value) -> Result<Value, ProducerError> {
    let event: SqsEvent =
        serde_json::from_value(event).map_err(|e| ProducerError::InvalidEvent {
            kind: KIND,
            code: "invalid_event",
            message: e.to_string(),
        })?;
    let fifo = event
        .records
        .iter()
        .any(|m| m.attributes.contains_key("MessageGroupId"));
    let mut failures: Vec<String> = Vec::new();
    if fifo {
        let mut failed = false;
        for message in &event.records {
            let id = message.message_id.clone().unwrap_or_default();
            if failed {
                failures.push(id);
                continue;
            }
            if let Err(e) = produce_message(h, message).await {
                tracing::warn!(message_id = %id, error = %e.full_message(), "sqs message not produced; it and the rest of the fifo batch will be retried");
                failures.push(id);
                failed = true;
            }
        }
    } else {
        let outcomes: Vec<(String, Result<(), ProducerError>)> =
            futures::stream::iter(event.records.iter())
                .map(|m| async move {
                    (
                        m.message_id.clone().unwrap_or_default(),
                        produce_message(h, m).await,
                    )
                })
                .buffered(h.config.sqs_concurrency)
                .collect()
                .await;
        for (id, outcome) in outcomes {
            if let Err(e) = outcome {
                tracing::warn!(message_id = %id, error = %e.full_message(), "sqs message not produced; it will be retried");
                failures.push(id);
            }
        }
    }
    let failures: Vec<Value> = failures
        .into_iter()
        .map(|id| json!({"itemIdentifier": id}))
        .collect();
    Ok(json!({"batchItemFailures": failures}))
}

fn string_attribute<'a>(m: &'a SqsMessage, name: &str) -> Option<&'a str> {
    m.message_attributes
        .get(name)
        .and_then(|a| a.string_value.as_deref())
}

async fn produce_message<S: Sink>(h: &Handler<S>, m: &SqsMessage) -> Result<(), ProducerError> {
    let invalid = |message: String| ProducerError::InvalidEvent {
        kind: KIND,
        code: "invalid_event",
        message,
    };
    let id = m
        .message_id
        .as_deref()
        .ok_or_else(|| invalid("a message has no messageId".to_owned()))?;
    let topic = h.topic_or_default(string_attribute(m, "wharf-topic").map(str::to_owned), KIND)?;
    let body = m.body.clone().unwrap_or_default();
    let json = serde_json::from_str::<Value>(&body).ok();
    let mut record = match &json {
        Some(v) => Record::json(v).map_err(|e| invalid(e.to_string()))?,
        None => Record::bytes(Bytes::from(body.into_bytes())),
    };
    let key = string_attribute(m, "wharf-key")
        .map(|k| Bytes::from(k.to_owned().into_bytes()))
        .or_else(|| {
            m.attributes
                .get("MessageGroupId")
                .map(|g| Bytes::from(g.clone().into_bytes()))
        })
        .or_else(|| {
            let (v, p) = (json.as_ref()?, h.config.key_pointer.as_deref()?);
            key_at(v, p)
        });
    if let Some(key) = key {
        record = record.with_key(key);
    }
    record = record
        .with_header(SOURCE_HEADER, KIND)
        .with_header("sqs-message-id", id);
    for (name, attr) in &m.message_attributes {
        if name.starts_with("wharf-") {
            continue;
        }
        if let Some(v) = &attr.string_value {
            record = record.with_header(name.clone(), v.clone());
        }
    }
    if let Some(ts) = m
        .attributes
        .get("SentTimestamp")
        .and_then(|t| t.parse::<i64>().ok())
    {
        record = record.with_timestamp_ms(ts);
    }
    h.produce_all(&topic, vec![record], &derived_key("sqs", &[id]))
        .await
        .map(drop)
}

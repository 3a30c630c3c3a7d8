//! S3 event notifications: one record per object event, carrying the link, not the bytes.
//!
//! - Topic: `WHARF_TOPIC`. Key: `<bucket>/<object key>` (events of one object stay in order).
//! - Value (JSON): `{"bucket","key","size","etag","event_name","event_time","sequencer",
//!   "version_id","region"}` with the object key URL-decoded (S3 sends it form-encoded).
//! - Headers: `wharf-source: s3`, `s3-event-name`.
//! - One request per object event under `s3:` + bucket, key, sequencer and event name: the
//!   sequencer orders events of one key, so a retried notification is answered from the broker's
//!   memory.
//! - Any failure fails the invocation, so Lambda retries the event (asynchronous invocation).

use aws_lambda_events::s3::S3Event;
use serde_json::{Value, json};
use wharf_client::Record;
use wharf_functions_shared::derived_key;

use crate::error::ProducerError;
use crate::handler::{Handler, results_json};
use crate::sink::Sink;
use crate::sources::SOURCE_HEADER;

const KIND: &str = "s3";

/// Handles the notification; the answer lists each record's offset.
pub async fn handle<S: Sink>(h: &Handler<S>, event: Value) -> Result<Value, ProducerError> {
    let invalid = |message: String| ProducerError::InvalidEvent {
        kind: KIND,
        code: "invalid_event",
        message,
    };
    let event: S3Event = serde_json::from_value(event).map_err(|e| invalid(e.to_string()))?;
    let topic = h.topic_or_default(None, KIND)?;
    let mut results = Vec::new();
    for r in &event.records {
        let bucket =
            r.s3.bucket
                .name
                .clone()
                .ok_or_else(|| invalid("a record has no s3.bucket.name".to_owned()))?;
        let raw_key =
            r.s3.object
                .key
                .clone()
                .ok_or_else(|| invalid("a record has no s3.object.key".to_owned()))?;
        let key = form_url_decode(&raw_key);
        let event_name = r.event_name.clone().unwrap_or_default();
        let event_time = r.event_time.to_rfc3339();
        let sequencer = r.s3.object.sequencer.clone().unwrap_or_default();
        let value = json!({
            "bucket": bucket,
            "key": key,
            "size": r.s3.object.size,
            "etag": r.s3.object.e_tag,
            "event_name": event_name,
            "event_time": event_time,
            "sequencer": r.s3.object.sequencer,
            "version_id": r.s3.object.version_id,
            "region": r.aws_region,
        });
        let record = Record::json(&value)
            .map_err(|e| invalid(e.to_string()))?
            .with_key(format!("{bucket}/{key}").into_bytes())
            .with_header(SOURCE_HEADER, KIND)
            .with_header("s3-event-name", event_name.clone())
            .with_timestamp_ms(r.event_time.timestamp_millis());
        // Without a sequencer (never in real events) the event time stands in for it.
        let order = if sequencer.is_empty() {
            &event_time
        } else {
            &sequencer
        };
        let idem = derived_key("s3", &[&bucket, &key, order, &event_name]);
        let answer = h.produce_all(&topic, vec![record], &idem).await?;
        results.extend(answer.results);
    }
    let answer = wharf_client::ProduceAnswer {
        status: 200,
        replayed: false,
        results,
    };
    Ok(results_json(&topic, &answer))
}

/// Decodes an `application/x-www-form-urlencoded` string (`+` is a space); invalid escapes are
/// kept as they are.
pub fn form_url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::form_url_decode;

    #[test]
    fn s3_keys_are_form_decoded() {
        assert_eq!(form_url_decode("my+photo%281%29.jpg"), "my photo(1).jpg");
        assert_eq!(form_url_decode("a%2Fb%"), "a/b%");
        assert_eq!(form_url_decode("100%zz"), "100%zz");
        assert_eq!(form_url_decode("caf%C3%A9"), "café");
    }
}

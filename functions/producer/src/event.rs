//! Recognising an event by its shape.
//!
//! Lambda hands a function the raw JSON of whatever invoked it; there is no type tag. The rules,
//! in order:
//! - `Records[0].eventSource` is `aws:sqs` → SQS; `aws:s3` → S3 notification.
//! - `Event` is `s3:TestEvent` → the test message S3 sends when a notification is configured.
//! - `detail-type`, `source` and `detail` present → EventBridge.
//! - `requestContext.http` present → API Gateway HTTP API v2 or Function URL (same payload 2.0).
//! - `records` is an array → direct invocation.

use serde_json::Value;

/// What invoked the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// API Gateway HTTP API (payload 2.0) or a Lambda Function URL.
    Http,
    /// An SQS batch.
    Sqs,
    /// S3 event notifications.
    S3,
    /// The `s3:TestEvent` S3 sends when a notification is set up: nothing to produce.
    S3Test,
    /// An EventBridge event (including scheduled events).
    EventBridge,
    /// `{"topic","records":[...]}`.
    Direct,
}

/// Recognises `event`; `None` for shapes the producer does not handle.
pub fn classify(event: &Value) -> Option<EventKind> {
    let source = event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str);
    match source {
        Some("aws:sqs") => return Some(EventKind::Sqs),
        Some("aws:s3") => return Some(EventKind::S3),
        _ => {}
    }
    if event.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Some(EventKind::S3Test);
    }
    if event.get("detail-type").is_some()
        && event.get("source").is_some()
        && event.get("detail").is_some()
    {
        return Some(EventKind::EventBridge);
    }
    if event
        .get("requestContext")
        .and_then(|c| c.get("http"))
        .is_some()
    {
        return Some(EventKind::Http);
    }
    if event.get("records").is_some_and(Value::is_array) {
        return Some(EventKind::Direct);
    }
    None
}

/// The top-level field names, for the "unrecognised event" error.
pub fn field_names(event: &Value) -> String {
    match event {
        Value::Object(map) => map.keys().take(12).cloned().collect::<Vec<_>>().join(", "),
        other => format!("<not an object: {}>", kind_of(other)),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes_are_told_apart() {
        assert_eq!(
            classify(&json!({"Records":[{"eventSource":"aws:sqs"}]})),
            Some(EventKind::Sqs)
        );
        assert_eq!(
            classify(&json!({"Records":[{"eventSource":"aws:s3"}]})),
            Some(EventKind::S3)
        );
        assert_eq!(
            classify(&json!({"Event":"s3:TestEvent"})),
            Some(EventKind::S3Test)
        );
        assert_eq!(
            classify(&json!({"detail-type":"x","source":"y","detail":{}})),
            Some(EventKind::EventBridge)
        );
        assert_eq!(
            classify(&json!({"version":"2.0","requestContext":{"http":{}}})),
            Some(EventKind::Http)
        );
        assert_eq!(
            classify(&json!({"topic":"t","records":[]})),
            Some(EventKind::Direct)
        );
        assert_eq!(
            classify(&json!({"Records":[{"eventSource":"aws:kinesis"}]})),
            None
        );
        assert_eq!(classify(&json!([1])), None);
    }
}

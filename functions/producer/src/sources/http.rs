//! API Gateway HTTP API (payload 2.0) and Lambda Function URL requests.
//!
//! - Topic: the `topic` path parameter (route `/topics/{topic}`), else the `topic` query
//!   parameter, else the last segment of the path, else `WHARF_TOPIC` (a request to `/`).
//! - Body: with a JSON content type (or none, when the body parses as JSON) an object is one
//!   record and an array one record per element; any other content is one bytes record carrying
//!   its `content-type` as a header. Base64 bodies (`isBase64Encoded`) are decoded first.
//! - Key: the `x-wharf-key` header (or `key` query parameter) for every record; else a JSON
//!   pointer from the `x-wharf-key-pointer` header, the `key_pointer` query parameter or
//!   `WHARF_KEY_POINTER`, applied to each element (an element without it is a 400).
//! - Idempotency key: `http:<requestContext.requestId>`.
//! - Answer: the broker's 200/207 with `{"topic","results"}`; errors as
//!   `{"error":{"code","message","retriable"}}` with a fitting status (the broker's 4xx as they
//!   are, 502 broker unreachable or offload failed, 503 broker unavailable, 504 timeout).

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde_json::{Value, json};
use wharf_client::Record;
use wharf_functions_shared::derived_key;

use crate::error::ProducerError;
use crate::handler::{Handler, key_at, results_json};
use crate::sink::Sink;
use crate::sources::SOURCE_HEADER;

const KIND: &str = "http";

fn invalid(code: &'static str, message: impl Into<String>) -> ProducerError {
    ProducerError::InvalidEvent {
        kind: KIND,
        code,
        message: message.into(),
    }
}

/// An HTTP response in the shape both API Gateway v2 and Function URLs accept.
pub fn response(status: u16, body: &Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

/// The error response for `e`.
pub fn error_response(e: &ProducerError) -> Value {
    response(
        e.http_status(),
        &json!({"error": {"code": e.code(), "message": e.full_message(), "retriable": e.retriable()}}),
    )
}

/// Handles the request; every outcome is an HTTP response.
pub async fn handle<S: Sink>(h: &Handler<S>, event: Value) -> Value {
    match produce(h, event).await {
        Ok(v) => v,
        Err(e) => {
            if e.http_status() >= 500 {
                tracing::error!(error = %e.full_message(), "http produce failed");
            } else {
                tracing::info!(error = %e.full_message(), "http request refused");
            }
            error_response(&e)
        }
    }
}

fn header<'a>(req: &'a ApiGatewayV2httpRequest, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

fn query<'a>(req: &'a ApiGatewayV2httpRequest, name: &str) -> Option<&'a str> {
    req.query_string_parameters.first(name)
}

fn is_json_content_type(ct: &str) -> bool {
    let base = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    base == "application/json" || base.ends_with("+json")
}

async fn produce<S: Sink>(h: &Handler<S>, event: Value) -> Result<Value, ProducerError> {
    let req: ApiGatewayV2httpRequest = serde_json::from_value(event).map_err(|e| {
        invalid(
            "invalid_event",
            format!("not an API Gateway v2 request: {e}"),
        )
    })?;
    let method = req.request_context.http.method.as_str().to_owned();
    if method != "POST" && method != "PUT" {
        return Ok(response(
            405,
            &json!({"error": {"code": "method_not_allowed", "message": format!("{method} is not allowed: POST records to /<topic>"), "retriable": false}}),
        ));
    }
    let request_id = req
        .request_context
        .request_id
        .clone()
        .ok_or_else(|| invalid("invalid_event", "requestContext.requestId is missing"))?;

    let topic = topic_of(&req).or_else(|| h.config.default_topic.clone());
    let topic = topic.ok_or(ProducerError::NoTopic { kind: KIND })?;

    let body = match (&req.body, req.is_base64_encoded) {
        (None, _) => Bytes::new(),
        (Some(b), false) => Bytes::from(b.clone().into_bytes()),
        (Some(b), true) => Bytes::from(B64.decode(b).map_err(|e| {
            invalid(
                "invalid_body",
                format!("isBase64Encoded but the body is not base64: {e}"),
            )
        })?),
    };
    if body.is_empty() {
        return Err(invalid(
            "empty_body",
            "the request has no body: send a JSON value or bytes",
        ));
    }

    let literal_key = header(&req, "x-wharf-key").or_else(|| query(&req, "key"));
    let pointer = header(&req, "x-wharf-key-pointer")
        .or_else(|| query(&req, "key_pointer"))
        .map(str::to_owned)
        .or_else(|| h.config.key_pointer.clone());
    if let Some(p) = &pointer
        && !p.starts_with('/')
    {
        return Err(invalid(
            "invalid_key_pointer",
            format!("key pointer {p:?} must start with '/'"),
        ));
    }

    let content_type = header(&req, "content-type").map(str::to_owned);
    let json = match content_type.as_deref() {
        Some(ct) if is_json_content_type(ct) => Some(
            serde_json::from_slice::<Value>(&body)
                .map_err(|e| invalid("invalid_json", format!("the body is not valid JSON: {e}")))?,
        ),
        Some(_) => None,
        None => serde_json::from_slice::<Value>(&body).ok(),
    };

    let mut records = Vec::new();
    match json {
        Some(value) => {
            let elements = match value {
                Value::Array(items) => items,
                other => vec![other],
            };
            if elements.is_empty() {
                return Err(invalid("empty_batch", "the JSON array is empty"));
            }
            for (index, element) in elements.iter().enumerate() {
                let mut record =
                    Record::json(element).map_err(|e| invalid("invalid_json", e.to_string()))?;
                record = record.with_header(SOURCE_HEADER, KIND);
                if let Some(k) = literal_key {
                    record = record.with_key(Bytes::from(k.to_owned().into_bytes()));
                } else if let Some(p) = &pointer {
                    let key = key_at(element, p).ok_or_else(|| {
                        invalid("invalid_key", format!("element {index} has no key at {p}"))
                    })?;
                    record = record.with_key(key);
                }
                records.push(record);
            }
        }
        None => {
            let mut record = Record::bytes(body).with_header(SOURCE_HEADER, KIND);
            if let Some(ct) = &content_type {
                record = record.with_header("content-type", ct.clone());
            }
            if let Some(k) = literal_key {
                record = record.with_key(Bytes::from(k.to_owned().into_bytes()));
            }
            records.push(record);
        }
    }

    let key = derived_key("http", &[&request_id]);
    let answer = h.produce(&topic, records, &key).await?;
    Ok(response(answer.status, &results_json(&topic, &answer)))
}

/// The topic named by the request, if any.
fn topic_of(req: &ApiGatewayV2httpRequest) -> Option<String> {
    if let Some(t) = req.path_parameters.get("topic") {
        return Some(t.clone());
    }
    if let Some(t) = query(req, "topic") {
        return Some(t.to_owned());
    }
    let path = req
        .raw_path
        .as_deref()
        .or(req.request_context.http.path.as_deref())?;
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

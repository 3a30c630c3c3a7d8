//! The produce form: key, headers, a JSON or text value, partition and `acks`; it goes through
//! the same [`service::produce`](crate::service::produce) as `POST /v1/topics/{topic}/records`
//! and shows where the record landed (or why it was refused).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use base64::Engine;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use wharf_proto::ErrorCode;

use super::layout::{self, Nav};
use super::session::Viewer;
use super::{Console, PageError, PageResult, html};
use crate::api::error::ApiError;
use crate::config::Action;
use crate::service::produce::{self, Acks, ProduceInput, RecordsFormat};

fn bad(message: String) -> PageError {
    PageError(ApiError::bad_request(ErrorCode::InvalidRecords, message))
}

fn form_markup(viewer: &Viewer, name: &str, partitions: u32, outcome: Option<Markup>) -> Markup {
    html! {
        h1 { "Produce to " a href={"/ui/topics/" (name)} { code { (name) } } }
        @if let Some(o) = outcome { div.card role="status" id="produce-outcome" { (o) } }
        form.card method="post" action={"/ui/topics/" (name) "/produce"} {
            (layout::csrf_field(viewer))
            label for="p-key" { "Key (empty: none)" }
            input id="p-key" name="key" size="40";
            label for="p-headers" { "Headers, one " code { "name: value" } " per line" }
            textarea id="p-headers" name="headers" rows="3" {}
            label for="p-value" { "Value" }
            textarea id="p-value" name="value" rows="8" required { "{}" }
            fieldset.inline {
                legend.muted { "Value is" }
                label { input type="radio" name="value_kind" value="json" checked; " JSON" }
                label { input type="radio" name="value_kind" value="text"; " UTF-8 text" }
            }
            div.inline {
                div {
                    label for="p-partition" { "Partition" }
                    select id="p-partition" name="partition" {
                        option value="" { "by key / sticky" }
                        @for p in 0..partitions { option value=(p) { (p) } }
                    }
                }
                div {
                    label for="p-acks" { "Acks" }
                    select id="p-acks" name="acks" {
                        option value="all" { "all (fsynced)" }
                        option value="leader" { "leader (in the log)" }
                        option value="none" { "none (validated only)" }
                    }
                }
            }
            p { button type="submit" { "Produce" } }
        }
    }
}

/// `GET /ui/topics/{topic}/produce`.
pub async fn form(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    viewer.require(Action::Produce, &name)?;
    let topic = console.broker.topics.get(&name).ok_or_else(|| {
        PageError(ApiError::UnknownTopic {
            topic: name.clone(),
        })
    })?;
    let body = form_markup(&viewer, &name, topic.partition_count(), None);
    Ok(html(layout::page(&viewer, Nav::Topics, "Produce", body)))
}

/// The produce form's body.
#[derive(Debug, Deserialize)]
pub struct ProduceForm {
    csrf: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    headers: String,
    value: String,
    value_kind: String,
    #[serde(default)]
    partition: String,
    acks: String,
}

/// `name: value` lines → headers.
pub fn parse_headers(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("header line {line:?} has no `:`"))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

/// The `{"records":[…]}` body of the one record the form describes.
fn envelope(form: &ProduceForm) -> Result<serde_json::Value, PageError> {
    let mut record = serde_json::Map::new();
    if !form.key.is_empty() {
        record.insert("key".into(), json!(form.key));
    }
    let headers = parse_headers(&form.headers).map_err(bad)?;
    record.insert("headers".into(), json!(headers));
    match form.value_kind.as_str() {
        "json" => {
            let value: serde_json::Value = serde_json::from_str(&form.value)
                .map_err(|e| bad(format!("the value is not JSON: {e}")))?;
            record.insert("value".into(), value);
        }
        "text" => {
            let b64 = base64::engine::general_purpose::STANDARD.encode(form.value.as_bytes());
            record.insert("value_b64".into(), json!(b64));
        }
        other => {
            return Err(bad(format!(
                "value_kind must be json or text, got {other:?}"
            )));
        }
    }
    if !form.partition.trim().is_empty() {
        let p: u32 = form.partition.trim().parse().map_err(|_| {
            bad(format!(
                "partition must be a number, got {:?}",
                form.partition
            ))
        })?;
        record.insert("partition".into(), json!(p));
    }
    Ok(json!({ "records": [record] }))
}

/// `POST /ui/topics/{topic}/produce`.
pub async fn submit(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<ProduceForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Action::Produce, &name)?;
    let acks: Acks = form.acks.parse().map_err(|_| {
        bad(format!(
            "acks must be all, leader or none, got {:?}",
            form.acks
        ))
    })?;
    let body = bytes::Bytes::from(envelope(&form)?.to_string());
    let topic = console.broker.topic_for_produce(&name).await?;
    let outcome = produce::produce(
        &console.broker,
        &topic,
        ProduceInput {
            body: &body,
            format: RecordsFormat::Json,
            acks,
            idempotency_key: None,
        },
    )
    .await?;
    let shown = html! {
        @for r in &outcome.results {
            @match (&r.error, r.partition, r.offset) {
                (Some(e), _, _) => p.error { "Refused: " code { (e.code) } " " (e.message) },
                (None, Some(p), Some(o)) => p.ok {
                    "Landed in partition " (p) " at offset " (o) ". "
                    a href={"/ui/topics/" (name) "/messages?partition=" (p) "&from=offset&offset=" (o) "&n=1"} { "Show it" }
                },
                _ => p.ok { "Accepted (acks=none: no offset is reported)." },
            }
        }
    };
    let page = form_markup(&viewer, &name, topic.partition_count(), Some(shown));
    Ok(html(layout::page(&viewer, Nav::Topics, "Produce", page)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_per_line_and_refuse_lines_without_a_colon() {
        let h = parse_headers("trace-id: abc\n\n  x:y:z ").unwrap();
        assert_eq!(h["trace-id"], "abc");
        assert_eq!(h["x"], "y:z");
        assert!(parse_headers("oops").is_err());
    }

    #[test]
    fn text_values_travel_as_base64_and_json_values_as_json() {
        let mut f = ProduceForm {
            csrf: String::new(),
            key: "k".into(),
            headers: String::new(),
            value: "héllo".into(),
            value_kind: "text".into(),
            partition: "2".into(),
            acks: "all".into(),
        };
        let e = envelope(&f).unwrap();
        assert_eq!(e["records"][0]["value_b64"], "aMOpbGxv");
        assert_eq!(e["records"][0]["partition"], 2);
        f.value_kind = "json".into();
        f.value = r#"{"a":1}"#.into();
        assert_eq!(envelope(&f).unwrap()["records"][0]["value"]["a"], 1);
        f.value = "{".into();
        assert!(envelope(&f).is_err());
    }
}

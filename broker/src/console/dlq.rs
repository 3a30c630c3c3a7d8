//! Dead-letter queues: the `*.dlq` topics, their records with the `wharf-dlq-*` headers the
//! consumer function writes as columns (error, attempts, source topic/partition/offset, group),
//! and replay of one record, a selection or all of them to the source topic.
//!
//! A replay goes through the produce service with an idempotency key derived from the DLQ
//! record's position (topic, partition, offset), so replaying the same DLQ record twice appends
//! it once (within `idempotency.window_ms`). The replayed record keeps key, value and headers,
//! minus the `wharf-dlq-*` ones, and goes to its source partition when the source topic still
//! has it (by key otherwise). Viewing needs `consume` on the DLQ; replaying also `produce` on the
//! source topic.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, Query, State};
use base64::Engine;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use wharf_proto::ErrorCode;

use super::layout::{self, Nav};
use super::records::text_or_hex;
use super::session::Viewer;
use super::{Console, PageError, PageResult, html};
use crate::api::error::ApiError;
use crate::config::Action;
use crate::service::browse::{self, Cursor, Located, Start};
use crate::service::produce::{self, Acks, ProduceInput, RecordsFormat};
use crate::storage::Record;

/// The headers shown as columns, in order.
pub const DLQ_HEADERS: [(&str, &str); 6] = [
    ("wharf-dlq-error", "Error"),
    ("wharf-dlq-attempts", "Attempts"),
    ("wharf-dlq-source-topic", "Source topic"),
    ("wharf-dlq-source-partition", "Source partition"),
    ("wharf-dlq-source-offset", "Source offset"),
    ("wharf-dlq-group", "Group"),
];
/// Most records one "replay all" moves.
const MAX_REPLAY_ALL: usize = 1000;

fn header<'a>(record: &'a Record, name: &str) -> Option<&'a [u8]> {
    record
        .headers
        .iter()
        .find(|h| h.key == name)
        .map(|h| h.value.as_ref())
}

fn header_text(record: &Record, name: &str) -> String {
    header(record, name).map_or_else(String::new, |v| String::from_utf8_lossy(v).into_owned())
}

/// The idempotency key of replaying the DLQ record at `(topic, partition, offset)`.
pub fn replay_key(topic: &str, partition: u32, offset: u64) -> String {
    let mut h = Sha256::new();
    h.update(topic.as_bytes());
    h.update([0u8]);
    h.update(partition.to_be_bytes());
    h.update(offset.to_be_bytes());
    format!("wharf-dlq-replay-{}", hex::encode(h.finalize()))
}

/// `GET /ui/dlq`: the DLQ topics the viewer may read.
pub async fn list(State(console): State<Arc<Console>>, viewer: Viewer) -> PageResult {
    let topics: Vec<_> = console
        .broker
        .topics
        .list()
        .into_iter()
        .filter(|t| t.name.ends_with(".dlq") && viewer.may(Action::Consume, &t.name))
        .collect();
    let body = html! {
        h1 { "Dead-letter queues" }
        @if topics.is_empty() { p.muted { "No " code { "*.dlq" } " topics." } }
        ul { @for t in &topics {
            @let (records, _) = super::topics::totals(t);
            li { a href={"/ui/dlq/" (t.name)} { (t.name) } " · " (records) " records" }
        } }
    };
    Ok(html(layout::page(&viewer, Nav::Dlq, "DLQ", body)))
}

/// The DLQ page's query.
#[derive(Debug, Deserialize, Default)]
pub struct DlqQuery {
    #[serde(default)]
    cursor: String,
}

fn rows(records: &[Located]) -> Markup {
    html! {
        div.scroll { table {
            thead { tr {
                th scope="col" { span.skip { "Select" } }
                th.num scope="col" { "Partition" } th.num scope="col" { "Offset" }
                th scope="col" { "Time (UTC)" } th scope="col" { "Key" }
                @for (_, label) in DLQ_HEADERS { th scope="col" { (label) } }
                th scope="col" { "Value" }
            } }
            tbody { @for l in records {
                @let r = &l.record;
                @let id = format!("{}:{}", l.partition, r.offset);
                tr {
                    td { input type="checkbox" name="sel" value=(id) aria-label={"select " (id)} form="replay"; }
                    td.num { (l.partition) } td.num { (r.offset) }
                    td.mono { (layout::timestamp(r.timestamp_ms)) }
                    td.mono { (r.key.as_ref().map(|k| text_or_hex(k).0).unwrap_or_default()) }
                    @for (name, _) in DLQ_HEADERS { td { (header_text(r, name)) } }
                    td { pre { (text_or_hex(&r.value[..r.value.len().min(512)]).0) } }
                }
            } }
        } }
    }
}

impl Viewer {
    /// Replay buttons are shown to viewers who may produce somewhere; each replay still checks
    /// the record's source topic.
    fn may_any_produce(&self) -> bool {
        self.caller.may_somewhere(Action::Produce)
    }
}

/// `GET /ui/dlq/{topic}`.
pub async fn page(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Query(q): Query<DlqQuery>,
) -> PageResult {
    viewer.require(Action::Consume, &name)?;
    if console.broker.topics.get(&name).is_none() {
        return Err(PageError(ApiError::UnknownTopic { topic: name }));
    }
    let cursor = if q.cursor.is_empty() {
        browse::start_cursor(&console.broker, &name, None, Start::Earliest).await?
    } else {
        Cursor::parse(&q.cursor).map_err(|e| {
            PageError(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                e.to_string(),
            ))
        })?
    };
    let page = browse::page(&console.broker, &name, None, &cursor, 100).await?;
    let body = html! {
        h1 { "DLQ " code { (name) } }
        p { a href={"/ui/topics/" (name)} { "Topic page" } }
        (rows(&page.records))
        @if page.more { p { a href={"/ui/dlq/" (name) "?cursor=" (page.next.render())} { "Next page →" } } }
        @if viewer.may_any_produce() {
            form.card.inline id="replay" method="post" action={"/ui/dlq/" (name) "/replay"} {
                (layout::csrf_field(&viewer))
                button type="submit" name="what" value="selected" { "Replay selected" }
                button.danger type="submit" name="what" value="all" { "Replay all (up to " (MAX_REPLAY_ALL) ")" }
            }
            p.muted { "Replaying a record twice appends it once: its key is derived from its DLQ position." }
        }
    };
    Ok(html(layout::page(&viewer, Nav::Dlq, &name, body)))
}

/// How one replay ended.
#[derive(Debug)]
pub struct Replayed {
    pub partition: u32,
    pub offset: u64,
    pub target: String,
    /// Where it landed, or why not.
    pub outcome: Result<(u32, u64, bool), String>,
}

/// The produce body that replays `record` (its source partition when `partitions` has it).
fn replay_body(record: &Record, partitions: u32) -> serde_json::Value {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let headers: BTreeMap<String, String> = record
        .headers
        .iter()
        .filter(|h| !h.key.starts_with("wharf-dlq-"))
        .map(|h| {
            (
                h.key.clone(),
                String::from_utf8_lossy(&h.value).into_owned(),
            )
        })
        .collect();
    let mut r = serde_json::Map::new();
    if let Some(k) = &record.key {
        r.insert("key_b64".into(), json!(b64(k)));
    }
    match (
        record.value_is_json,
        serde_json::from_slice::<serde_json::Value>(&record.value),
    ) {
        (true, Ok(v)) => r.insert("value".into(), v),
        _ => r.insert("value_b64".into(), json!(b64(&record.value))),
    };
    r.insert("headers".into(), json!(headers));
    r.insert("timestamp".into(), json!(record.timestamp_ms));
    let source: Option<u32> =
        std::str::from_utf8(header(record, "wharf-dlq-source-partition").unwrap_or_default())
            .ok()
            .and_then(|s| s.parse().ok());
    if let Some(p) = source.filter(|p| *p < partitions) {
        r.insert("partition".into(), json!(p));
    }
    json!({ "records": [r] })
}

/// Replays one DLQ record to its source topic, once per DLQ position.
async fn replay_one(console: &Console, viewer: &Viewer, dlq: &str, l: &Located) -> Replayed {
    let target = header_text(&l.record, "wharf-dlq-source-topic");
    let mut done = Replayed {
        partition: l.partition,
        offset: l.record.offset,
        target: target.clone(),
        outcome: Err(String::new()),
    };
    if target.is_empty() {
        done.outcome = Err("no wharf-dlq-source-topic header".into());
        return done;
    }
    if !viewer.may(Action::Produce, &target) {
        done.outcome = Err(format!("this token may not produce to {target}"));
        return done;
    }
    let Some(topic) = console.broker.topics.get(&target) else {
        done.outcome = Err(format!("unknown topic {target}"));
        return done;
    };
    let body = bytes::Bytes::from(replay_body(&l.record, topic.partition_count()).to_string());
    let key = replay_key(dlq, l.partition, l.record.offset);
    let input = ProduceInput {
        body: &body,
        format: RecordsFormat::Json,
        acks: Acks::All,
        idempotency_key: Some(&key),
    };
    done.outcome = match produce::produce(&console.broker, &topic, input).await {
        Ok(o) => match o.results.first() {
            Some(r) => match (&r.error, r.partition, r.offset) {
                (None, Some(p), Some(off)) => Ok((p, off, o.replayed)),
                (Some(e), _, _) => Err(e.message.clone()),
                _ => Err("no offset reported".into()),
            },
            None => Err("no result".into()),
        },
        Err(e) => Err(ApiError::from(e).to_string()),
    };
    done
}

/// `POST /ui/dlq/{topic}/replay`: `sel=p:offset` (repeated) with `what=selected`, or
/// `what=all`.
pub async fn replay(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    viewer.check_csrf(field("csrf").unwrap_or_default())?;
    viewer.require(Action::Consume, &name)?;
    let bad = |m: String| PageError(ApiError::bad_request(ErrorCode::InvalidQuery, m));
    let mut chosen: Vec<Located> = Vec::new();
    if field("what") == Some("all") {
        let start = browse::start_cursor(&console.broker, &name, None, Start::Earliest).await?;
        let mut cursor = start;
        while chosen.len() < MAX_REPLAY_ALL {
            let page = browse::page(
                &console.broker,
                &name,
                None,
                &cursor,
                browse::MAX_PAGE_RECORDS,
            )
            .await?;
            chosen.extend(page.records);
            cursor = page.next;
            if !page.more {
                break;
            }
        }
        chosen.truncate(MAX_REPLAY_ALL);
    } else {
        for (_, v) in fields.iter().filter(|(n, _)| n == "sel") {
            let c = Cursor::parse(v).map_err(|e| bad(e.to_string()))?;
            let &[(p, o)] = c.0.as_slice() else {
                return Err(bad(format!("sel must be partition:offset, got {v:?}")));
            };
            let part = crate::service::consume::find_partition(&console.broker, &name, p)?;
            let batch = part.read(o, 1, 1).await?;
            if let Some(record) = batch.records.into_iter().find(|r| r.offset == o) {
                chosen.push(Located {
                    partition: p,
                    record,
                });
            }
        }
        if chosen.is_empty() {
            return Err(bad("select at least one record to replay".into()));
        }
    }
    let mut results = Vec::new();
    for l in &chosen {
        results.push(replay_one(&console, &viewer, &name, l).await);
    }
    let body = html! {
        h1 { "Replayed from " code { (name) } }
        div.scroll { table {
            thead { tr { th scope="col" { "DLQ record" } th scope="col" { "To" } th scope="col" { "Outcome" } } }
            tbody { @for r in &results {
                tr {
                    td.mono { (r.partition) ":" (r.offset) }
                    td { (r.target) }
                    td { @match &r.outcome {
                        Ok((p, o, false)) => span.ok { "appended at partition " (p) " offset " (o) },
                        Ok((p, o, true)) => span.muted { "already replayed (partition " (p) " offset " (o) ")" },
                        Err(e) => span.error { (e) },
                    } }
                }
            } }
        } }
        p { a href={"/ui/dlq/" (name)} { "Back to the DLQ" } }
    };
    Ok(html(layout::page(&viewer, Nav::Dlq, "Replay", body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Bytes, Header};

    #[test]
    fn replay_keys_are_stable_per_position_and_fit_the_limit() {
        let a = replay_key("orders.svc.created.dlq", 0, 5);
        assert_eq!(a, replay_key("orders.svc.created.dlq", 0, 5));
        assert_ne!(a, replay_key("orders.svc.created.dlq", 0, 6));
        assert_ne!(a, replay_key("orders.svc.created.dlq", 1, 5));
        assert!(
            replay_key(&"x".repeat(249), u32::MAX, u64::MAX).len()
                <= produce::MAX_IDEMPOTENCY_KEY_LEN
        );
    }

    #[test]
    fn a_replay_drops_the_dlq_headers_and_targets_the_source_partition() {
        let h = |k: &str, v: &str| Header {
            key: k.into(),
            value: Bytes::copy_from_slice(v.as_bytes()),
        };
        let record = Record {
            offset: 3,
            timestamp_ms: 42,
            key: Some(Bytes::from_static(b"k")),
            value: Bytes::from_static(br#"{"a":1}"#),
            value_is_json: true,
            headers: vec![
                h("trace", "t"),
                h("wharf-dlq-error", "boom"),
                h("wharf-dlq-source-partition", "2"),
            ],
        };
        let body = replay_body(&record, 4);
        let r = &body["records"][0];
        assert_eq!(r["value"]["a"], 1);
        assert_eq!(r["headers"], json!({"trace": "t"}));
        assert_eq!(r["partition"], 2);
        assert!(
            replay_body(&record, 2)["records"][0]
                .get("partition")
                .is_none()
        );
    }
}

//! Rendering records for people: key, headers, timestamp, and the value as pretty JSON
//! (collapsible), UTF-8 text or hex; a claim-check pointer as its size, sha256 and a download
//! link instead of the pointer's JSON.

use maud::{Markup, html};
use serde::Deserialize;

use super::layout;
use crate::service::browse::Located;
use crate::storage::Record;

/// How values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueFormat {
    /// JSON pretty-printed when it was produced as JSON, else text if UTF-8, else hex.
    #[default]
    Auto,
    Json,
    Text,
    Hex,
}

impl ValueFormat {
    pub const ALL: [(Self, &'static str); 4] = [
        (Self::Auto, "auto"),
        (Self::Json, "json"),
        (Self::Text, "text"),
        (Self::Hex, "hex"),
    ];
}

/// Bytes as printable UTF-8 when they are, as hex otherwise.
pub fn text_or_hex(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
            (s.to_owned(), false)
        }
        _ => (hex::encode(bytes), true),
    }
}

/// Longest value shown inline; the rest is cut (the download or fetch API has it whole).
const SHOWN_VALUE_BYTES: usize = 64 * 1024;

fn value(record: &Record, format: ValueFormat) -> Markup {
    let bytes = &record.value[..record.value.len().min(SHOWN_VALUE_BYTES)];
    let cut = record.value.len() > SHOWN_VALUE_BYTES;
    let pretty = || {
        serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
    };
    let shown = match format {
        ValueFormat::Hex => html! { pre.mono { (hex::encode(bytes)) } },
        ValueFormat::Json | ValueFormat::Auto
            if format == ValueFormat::Json || record.value_is_json =>
        {
            match pretty() {
                Some(p) => html! {
                    details open { summary { "JSON" } pre { (p) } }
                },
                None => {
                    let (t, is_hex) = text_or_hex(bytes);
                    html! { @if is_hex { span.tag { "hex" } " " } pre { (t) } }
                }
            }
        }
        _ => {
            let (t, is_hex) = text_or_hex(bytes);
            html! { @if is_hex { span.tag { "hex" } " " } pre { (t) } }
        }
    };
    html! {
        (shown)
        @if cut { p.muted { "showing the first " (layout::bytes(SHOWN_VALUE_BYTES as u64)) " of " (layout::bytes(record.value.len() as u64)) } }
    }
}

/// The value cell of a claim-check pointer record: what it points to, and a download link.
fn pointer(topic: &str, partition: u32, record: &Record) -> Markup {
    match wharf_blob::Pointer::from_json(&record.value) {
        Ok(p) => html! {
            span.tag { "claim check" }
            dl.mono {
                dt { "size" } dd { (layout::bytes(p.size)) " (" (p.size) " bytes)" }
                dt { "sha256" } dd { code { (p.sha256) } }
                dt { "object" } dd { (p.bucket) "/" (p.key) }
            }
            a href={"/ui/topics/" (topic) "/partitions/" (partition) "/records/" (record.offset) "/blob"} download {
                "Download value"
            }
        },
        Err(e) => html! { span.error { "invalid claim-check pointer: " (e) } },
    }
}

/// A table of records (`topic` for the pointer download links).
pub fn table(topic: &str, records: &[Located], format: ValueFormat) -> Markup {
    html! {
        div.scroll {
            table.records {
                thead { tr {
                    th.num scope="col" { "Partition" } th.num scope="col" { "Offset" }
                    th scope="col" { "Timestamp (UTC)" } th scope="col" { "Key" }
                    th scope="col" { "Headers" } th scope="col" { "Value" }
                } }
                tbody {
                    @for l in records {
                        @let r = &l.record;
                        tr {
                            td.num { (l.partition) }
                            td.num { (r.offset) }
                            td.mono { (layout::timestamp(r.timestamp_ms)) }
                            td {
                                @match &r.key {
                                    None => span.muted { "none" },
                                    Some(k) => {
                                        @let (k, is_hex) = text_or_hex(k);
                                        @if is_hex { span.tag { "hex" } " " }
                                        code { (k) }
                                    }
                                }
                            }
                            td {
                                @for h in &r.headers {
                                    @let (v, _) = text_or_hex(&h.value);
                                    div.mono { (h.key) ": " (v) }
                                }
                            }
                            td {
                                @if crate::claim::is_pointer(r) {
                                    (pointer(topic, l.partition, r))
                                } @else {
                                    (value(r, format))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Bytes, Header};

    fn located(value: &[u8], is_json: bool) -> Located {
        Located {
            partition: 1,
            record: Record {
                offset: 7,
                timestamp_ms: 0,
                key: Some(Bytes::from_static(b"order-42")),
                value: Bytes::copy_from_slice(value),
                value_is_json: is_json,
                headers: vec![Header {
                    key: "trace-id".into(),
                    value: Bytes::from_static(b"abc"),
                }],
            },
        }
    }

    #[test]
    fn json_values_are_pretty_printed_and_escaped() {
        let html = table("t", &[located(br#"{"a":"<b>"}"#, true)], ValueFormat::Auto).into_string();
        assert!(
            html.contains("&quot;a&quot;: &quot;&lt;b&gt;&quot;"),
            "{html}"
        );
        assert!(html.contains("<details open>"));
        assert!(html.contains("order-42") && html.contains("trace-id: abc"));
    }

    #[test]
    fn binary_values_fall_back_to_hex_and_hex_can_be_asked_for() {
        let html = table("t", &[located(&[0, 1, 255], false)], ValueFormat::Auto).into_string();
        assert!(html.contains("0001ff"), "{html}");
        let html = table("t", &[located(b"hi", false)], ValueFormat::Hex).into_string();
        assert!(html.contains("6869"), "{html}");
        let html = table("t", &[located(b"hi", false)], ValueFormat::Text).into_string();
        assert!(html.contains("<pre>hi</pre>"), "{html}");
    }
}

//! The topic page: partitions (log start, high watermark, size; refreshed live), the schema
//! card, the groups reading the topic, and the message browser: one partition or all, from the
//! earliest offset, an offset, a time or the latest N, paged by cursor; plus the server-side
//! search with its scan budget. Browsing needs `consume` on the topic, as fetching does.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde::Deserialize;
use wharf_proto::ErrorCode;

use super::layout::{self, Nav};
use super::records::{self, ValueFormat};
use super::session::Viewer;
use super::{Console, PageError, PageResult, html};
use crate::api::error::ApiError;
use crate::claim::is_pointer;
use crate::config::Action;
use crate::service::browse::{self, Cursor, ScanBudget, SearchIn, Start};
use crate::topic::Topic;

/// Records per page unless asked otherwise.
const DEFAULT_PAGE: usize = 50;
/// Default and largest search budgets.
const DEFAULT_SCAN_RECORDS: u64 = 100_000;
const MAX_SCAN_RECORDS: u64 = 10_000_000;
const DEFAULT_SCAN_MS: u64 = 1000;
const MAX_SCAN_MS: u64 = 10_000;
const MAX_MATCHES: usize = 100;

fn bad(message: String) -> PageError {
    PageError(ApiError::bad_request(ErrorCode::InvalidQuery, message))
}

fn topic_for(console: &Console, viewer: &Viewer, name: &str) -> Result<Arc<Topic>, PageError> {
    viewer.require(Action::Consume, name)?;
    console.broker.topics.get(name).ok_or_else(|| {
        PageError(ApiError::UnknownTopic {
            topic: name.to_owned(),
        })
    })
}

/// Whether htmx asked (answer a fragment) or a plain browser navigation (answer a page).
fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// The partitions table.
fn partitions_table(topic: &Topic) -> Markup {
    html! {
        table {
            thead { tr {
                th.num scope="col" { "Partition" } th.num scope="col" { "Log start" }
                th.num scope="col" { "High watermark" } th.num scope="col" { "Records" }
                th.num scope="col" { "Size" }
            } }
            tbody {
                @for p in topic.partitions() {
                    @let o = p.offsets();
                    tr {
                        td.num { (p.id()) } td.num { (o.log_start_offset) }
                        td.num { (o.high_watermark) }
                        td.num { (o.high_watermark.saturating_sub(o.log_start_offset)) }
                        td.num { (layout::bytes(o.size_bytes)) }
                    }
                }
            }
        }
    }
}

/// `GET /ui/topics/{topic}/partitions`: the partitions table alone (live refresh).
pub async fn partitions_live(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let topic = topic_for(&console, &viewer, &name)?;
    Ok(html(partitions_table(&topic)))
}

/// The browser's query (also the form's fields).
#[derive(Debug, Deserialize, Default)]
pub struct BrowseQuery {
    /// A partition number, or `all` / absent.
    #[serde(default)]
    partition: String,
    /// `latest` (default), `earliest`, `offset` or `time`.
    #[serde(default)]
    from: String,
    #[serde(default)]
    offset: String,
    /// Ms since the epoch or `YYYY-MM-DDTHH:MM[:SS]` (UTC).
    #[serde(default)]
    time: String,
    n: Option<usize>,
    /// The next page's cursor (overrides `from`).
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    format: ValueFormat,
}

fn partition_of(text: &str) -> Result<Option<u32>, PageError> {
    match text.trim() {
        "" | "all" => Ok(None),
        p => p
            .parse()
            .map(Some)
            .map_err(|_| bad(format!("partition must be a number or all, got {p:?}"))),
    }
}

/// `YYYY-MM-DDTHH:MM[:SS]` (UTC) or ms since the epoch → ms.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let (date, clock) = text.split_once(['T', ' '])?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut c = clock.split(':').map(|x| x.parse::<i64>().ok());
    let (h, min) = (c.next()??, c.next()??);
    let s = c.next().flatten().unwrap_or(0);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || s > 59 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), the inverse of `layout::timestamp`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400) + h * 3600 + min * 60 + s) * 1000)
}

impl BrowseQuery {
    fn start(&self) -> Result<Start, PageError> {
        match self.from.as_str() {
            "" | "latest" => Ok(Start::Latest(self.limit() as u64)),
            "earliest" => Ok(Start::Earliest),
            "offset" => self
                .offset
                .trim()
                .parse()
                .map(Start::Offset)
                .map_err(|_| bad(format!("offset must be a number, got {:?}", self.offset))),
            "time" => parse_time(&self.time).map(Start::Timestamp).ok_or_else(|| {
                bad(format!(
                    "time must be YYYY-MM-DDTHH:MM or ms, got {:?}",
                    self.time
                ))
            }),
            other => Err(bad(format!(
                "from must be latest, earliest, offset or time, got {other:?}"
            ))),
        }
    }

    fn limit(&self) -> usize {
        self.n
            .unwrap_or(DEFAULT_PAGE)
            .clamp(1, browse::MAX_PAGE_RECORDS)
    }

    /// The cursor to read from: the one given, else where `from` points.
    async fn cursor(&self, console: &Console, topic: &str) -> Result<Cursor, PageError> {
        if !self.cursor.is_empty() {
            return Cursor::parse(&self.cursor).map_err(|e| bad(e.to_string()));
        }
        let partition = partition_of(&self.partition)?;
        Ok(browse::start_cursor(&console.broker, topic, partition, self.start()?).await?)
    }
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn format_name(f: ValueFormat) -> &'static str {
    ValueFormat::ALL
        .iter()
        .find(|(x, _)| *x == f)
        .map_or("auto", |(_, n)| n)
}

/// One page of the browser: the records and a link to the next page.
async fn browse_fragment(
    console: &Console,
    name: &str,
    q: &BrowseQuery,
) -> Result<Markup, PageError> {
    let partition = partition_of(&q.partition)?;
    let cursor = q.cursor(console, name).await?;
    let page = browse::page(&console.broker, name, partition, &cursor, q.limit()).await?;
    let next = query_string(&[
        ("partition", q.partition.as_str()),
        ("cursor", &page.next.render()),
        ("n", &q.limit().to_string()),
        ("format", format_name(q.format)),
    ]);
    Ok(html! {
        p.muted role="status" { (page.records.len()) " records" }
        (records::table(name, &page.records, q.format))
        @if page.more {
            p {
                a href={"/ui/topics/" (name) "/messages?" (next)}
                    hx-get={"/ui/topics/" (name) "/messages?" (next)} hx-target="#messages" {
                    "Next page →"
                }
            }
        }
    })
}

fn browser_form(name: &str, topic: &Topic) -> Markup {
    html! {
        form.card.inline action={"/ui/topics/" (name) "/messages"} method="get"
            hx-get={"/ui/topics/" (name) "/messages"} hx-target="#messages" {
            div {
                label for="b-partition" { "Partition" }
                select id="b-partition" name="partition" {
                    option value="all" { "all" }
                    @for p in 0..topic.partition_count() { option value=(p) { (p) } }
                }
            }
            div {
                label for="b-from" { "From" }
                select id="b-from" name="from" {
                    option value="latest" { "latest N" } option value="earliest" { "earliest" }
                    option value="offset" { "offset" } option value="time" { "time (UTC)" }
                }
            }
            div { label for="b-offset" { "Offset" } input id="b-offset" name="offset" type="number" min="0" size="8"; }
            div { label for="b-time" { "Time (UTC)" } input id="b-time" name="time" type="datetime-local" step="1"; }
            div { label for="b-n" { "N" } input id="b-n" name="n" type="number" min="1" max=(browse::MAX_PAGE_RECORDS) value=(DEFAULT_PAGE) size="5"; }
            div {
                label for="b-format" { "Value as" }
                select id="b-format" name="format" {
                    @for (_, n) in ValueFormat::ALL { option value=(n) { (n) } }
                }
            }
            button type="submit" { "Show" }
        }
    }
}

fn search_form(name: &str, topic: &Topic) -> Markup {
    html! {
        form.card.inline action={"/ui/topics/" (name) "/search"} method="get"
            hx-get={"/ui/topics/" (name) "/search"} hx-target="#messages" role="search" {
            div { label for="s-q" { "Search" } input id="s-q" name="q" required size="24" placeholder="text in key, header or value"; }
            div {
                label for="s-partition" { "Partition" }
                select id="s-partition" name="partition" {
                    option value="all" { "all" }
                    @for p in 0..topic.partition_count() { option value=(p) { (p) } }
                }
            }
            fieldset {
                legend.muted { "In" }
                label { input type="checkbox" name="in_key" value="1" checked; " key" }
                label { input type="checkbox" name="in_headers" value="1" checked; " headers" }
                label { input type="checkbox" name="in_value" value="1" checked; " value" }
            }
            div { label for="s-max" { "Scan at most (records)" } input id="s-max" name="max_records" type="number" min="1" max=(MAX_SCAN_RECORDS) value=(DEFAULT_SCAN_RECORDS); }
            div { label for="s-ms" { "… or (ms)" } input id="s-ms" name="max_ms" type="number" min="1" max=(MAX_SCAN_MS) value=(DEFAULT_SCAN_MS); }
            button type="submit" { "Search" }
        }
    }
}

/// `GET /ui/topics/{topic}`.
pub async fn topic_page(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let topic = topic_for(&console, &viewer, &name)?;
    let groups = console.broker.list_groups(|t| t == name).await?;
    let first = browse_fragment(&console, &name, &BrowseQuery::default()).await?;
    let body = html! {
        h1 { "Topic " code { (name) } }
        p {
            @if viewer.may(Action::Produce, &name) {
                a href={"/ui/topics/" (name) "/produce"} { "Produce a record" } " · "
            }
            @if name.ends_with(".dlq") { a href={"/ui/dlq/" (name)} { "DLQ view" } " · " }
            a href={"/v1/topics/" (name)} { "JSON" }
        }
        h2 { "Partitions" }
        div.scroll id="partitions" hx-get={"/ui/topics/" (name) "/partitions"} hx-trigger="every 5s" hx-swap="innerHTML" {
            (partitions_table(&topic))
        }
        (super::schemas::card(&console.broker.schemas, &topic))
        h2 { "Groups reading it" }
        @if groups.is_empty() { p.muted { "None." } }
        ul {
            @for g in &groups {
                li { a href={"/ui/groups/" (g.group)} { (g.group) } " · " (g.members) " live members" }
            }
        }
        h2 { "Messages" }
        (browser_form(&name, &topic))
        (search_form(&name, &topic))
        section id="messages" aria-live="polite" { (first) }
        (super::topics::settings_form(&viewer, &topic))
    };
    Ok(html(layout::page(&viewer, Nav::Topics, &name, body)))
}

/// `GET /ui/topics/{topic}/messages`: a page of records (a fragment for htmx).
pub async fn browse(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(q): Query<BrowseQuery>,
) -> PageResult {
    topic_for(&console, &viewer, &name)?;
    let fragment = browse_fragment(&console, &name, &q).await?;
    if is_htmx(&headers) {
        return Ok(html(fragment));
    }
    let body = html! {
        h1 { "Messages of " a href={"/ui/topics/" (name)} { code { (name) } } }
        section id="messages" { (fragment) }
    };
    Ok(html(layout::page(&viewer, Nav::Topics, &name, body)))
}

/// The search's query.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: String,
    #[serde(default)]
    partition: String,
    in_key: Option<String>,
    in_headers: Option<String>,
    in_value: Option<String>,
    max_records: Option<u64>,
    max_ms: Option<u64>,
    #[serde(default)]
    cursor: String,
}

/// `GET /ui/topics/{topic}/search`: scans from the start (or `cursor`) within the budget and
/// reports what it cost.
pub async fn search(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> PageResult {
    topic_for(&console, &viewer, &name)?;
    let partition = partition_of(&q.partition)?;
    let mut within = SearchIn {
        key: q.in_key.is_some(),
        headers: q.in_headers.is_some(),
        value: q.in_value.is_some(),
    };
    if !(within.key || within.headers || within.value) {
        within = SearchIn {
            key: true,
            headers: true,
            value: true,
        };
    }
    let budget = ScanBudget {
        max_records: q
            .max_records
            .unwrap_or(DEFAULT_SCAN_RECORDS)
            .clamp(1, MAX_SCAN_RECORDS),
        max_time: Duration::from_millis(q.max_ms.unwrap_or(DEFAULT_SCAN_MS).clamp(1, MAX_SCAN_MS)),
        max_matches: MAX_MATCHES,
    };
    let cursor = if q.cursor.is_empty() {
        browse::start_cursor(&console.broker, &name, partition, Start::Earliest).await?
    } else {
        Cursor::parse(&q.cursor).map_err(|e| bad(e.to_string()))?
    };
    let found = browse::search(
        &console.broker,
        &name,
        partition,
        &cursor,
        &q.q,
        within,
        budget,
    )
    .await?;
    let more = query_string(&[
        ("q", q.q.as_str()),
        ("partition", q.partition.as_str()),
        ("in_key", if within.key { "1" } else { "" }),
        ("in_headers", if within.headers { "1" } else { "" }),
        ("in_value", if within.value { "1" } else { "" }),
        ("max_records", &budget.max_records.to_string()),
        ("max_ms", &budget.max_time.as_millis().to_string()),
        ("cursor", &found.next.render()),
    ]);
    let fragment = html! {
        p role="status" id="search-summary" {
            "scanned " (found.scanned) " records in " (found.elapsed.as_millis()) " ms, "
            (found.matches.len()) " matches"
            @if found.stopped_at_budget { " (stopped at the budget)" }
        }
        (records::table(&name, &found.matches, ValueFormat::Auto))
        @if found.stopped_at_budget {
            p { a href={"/ui/topics/" (name) "/search?" (more)} hx-get={"/ui/topics/" (name) "/search?" (more)} hx-target="#messages" { "Continue the search →" } }
        }
    };
    if is_htmx(&headers) {
        return Ok(html(fragment));
    }
    let body = html! {
        h1 { "Search in " a href={"/ui/topics/" (name)} { code { (name) } } }
        section id="messages" { (fragment) }
    };
    Ok(html(layout::page(&viewer, Nav::Topics, &name, body)))
}

/// `GET /ui/topics/{topic}/partitions/{p}/records/{offset}/blob`: the value a claim-check
/// pointer names, resolved through the broker's claim check (a redirect to a presigned URL
/// where the store can presign, the bytes otherwise).
pub async fn blob(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path((name, partition, offset)): Path<(String, u32, u64)>,
) -> PageResult {
    topic_for(&console, &viewer, &name)?;
    let p = crate::service::consume::find_partition(&console.broker, &name, partition)?;
    let batch = p.read(offset, 1, 1).await?;
    let record = batch
        .records
        .into_iter()
        .find(|r| r.offset == offset)
        .filter(is_pointer)
        .ok_or_else(|| {
            bad(format!(
                "record {offset} of partition {partition} is not a claim-check pointer"
            ))
        })?;
    match console.broker.claims.resolve_for_reader(&record).await? {
        crate::claim::Resolved::Url(url) => Ok(axum::response::Redirect::to(&url).into_response()),
        crate::claim::Resolved::Inline { value, is_json } => {
            let kind = if is_json {
                "application/json"
            } else {
                "application/octet-stream"
            };
            let disposition = format!("attachment; filename=\"{name}-{partition}-{offset}\"");
            Ok((
                [
                    (header::CONTENT_TYPE, kind.to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                    (header::CACHE_CONTROL, "no-store".to_owned()),
                ],
                value,
            )
                .into_response())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_utc_and_round_trip_with_the_formatter() {
        assert_eq!(parse_time("0"), Some(0));
        assert_eq!(parse_time("2024-11-22T01:46:40"), Some(1_732_240_000_000));
        assert_eq!(parse_time("2024-11-22T01:46"), Some(1_732_239_960_000));
        assert_eq!(
            layout::timestamp(parse_time("2000-02-29T23:59:59").unwrap()),
            "2000-02-29 23:59:59.000"
        );
        assert_eq!(parse_time("2024-13-01T00:00"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query_string(&[("q", "a b&c"), ("cursor", "0:1,1:2")]),
            "q=a%20b%26c&cursor=0%3A1%2C1%3A2"
        );
    }
}

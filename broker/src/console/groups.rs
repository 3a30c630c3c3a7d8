//! Consumer groups: the list (topic, live members, total lag) and a group's page: members with
//! their lease counting down, partitions with owner, epoch, committed offset, high watermark and
//! lag in records and in time (age of the oldest unconsumed record), refreshed live; and the
//! offset reset (earliest, latest, time, offset), offered only while no member holds a lease and
//! applied only after a confirmation that shows what would move. Seeing a group needs `consume`
//! on its topic, resetting it `admin`, as in the API.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde::Deserialize;
use wharf_proto::ErrorCode;
use wharf_proto::api::GroupDescription;

use super::layout::{self, Nav};
use super::session::Viewer;
use super::{Console, PageError, PageResult, html};
use crate::api::error::ApiError;
use crate::config::Action;
use crate::service::groups::{ResetTo, clock};
use crate::state::now_ms;

/// The group, if `viewer` may `action` on every topic it touches.
async fn described(
    console: &Console,
    viewer: &Viewer,
    group: &str,
    action: Action,
) -> Result<GroupDescription, PageError> {
    let d = console.broker.describe_group(group).await?;
    match &d.topic {
        Some(topic) => viewer.require(action, topic)?,
        None => {
            for p in &d.partitions {
                viewer.require(action, &p.topic)?;
            }
        }
    }
    Ok(d)
}

/// `GET /ui/groups`.
pub async fn list(State(console): State<Arc<Console>>, viewer: Viewer) -> PageResult {
    let groups = console
        .broker
        .list_groups(|t| viewer.may(Action::Consume, t))
        .await?;
    let mut rows = Vec::new();
    for g in groups {
        let lag: u64 = match console.broker.describe_group(&g.group).await {
            Ok(d) => d.partitions.iter().map(|p| p.lag).sum(),
            Err(_) => 0,
        };
        rows.push((g, lag));
    }
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.group.cmp(&b.0.group)));
    let body = html! {
        h1 { "Consumer groups" }
        div.scroll { table {
            thead { tr {
                th scope="col" { "Group" } th scope="col" { "Topic" }
                th.num scope="col" { "Live members" } th.num scope="col" { "Total lag (records)" }
            } }
            tbody {
                @if rows.is_empty() { tr { td colspan="4" .muted { "No groups yet." } } }
                @for (g, lag) in &rows {
                    tr {
                        td { a href={"/ui/groups/" (g.group)} { (g.group) } }
                        td { @if let Some(t) = &g.topic { a href={"/ui/topics/" (t)} { (t) } } }
                        td.num { (g.members) }
                        td.num { (lag) }
                    }
                }
            }
        } }
    };
    Ok(html(layout::page(&viewer, Nav::Groups, "Groups", body)))
}

/// Age of the oldest unconsumed record of a partition (`None` without lag).
async fn lag_age_ms(console: &Console, topic: &str, partition: u32, committed: u64) -> Option<u64> {
    let p = console.broker.topics.get(topic)?.partition(partition)?;
    let o = p.offsets();
    let from = committed.max(o.log_start_offset);
    if from >= o.high_watermark {
        return None;
    }
    let batch = p.read(from, 1, 1).await.ok()?;
    let oldest = batch.records.first()?;
    u64::try_from(now_ms().saturating_sub(oldest.timestamp_ms)).ok()
}

/// Members and partitions (the part that refreshes live).
async fn live_markup(console: &Console, d: &GroupDescription) -> Markup {
    let now = clock();
    let mut ages = Vec::new();
    for p in &d.partitions {
        let committed = p.committed_offset.unwrap_or(0);
        ages.push(lag_age_ms(console, &p.topic, p.partition, committed).await);
    }
    html! {
        h2 { "Members" }
        @if d.members.is_empty() { p.muted { "No member holds a lease." } }
        @else {
            div.scroll { table {
                thead { tr { th scope="col" { "Member" } th scope="col" { "Partitions" } th.num scope="col" { "Lease left" } } }
                tbody { @for m in &d.members {
                    tr {
                        td.mono { (m.member_id) }
                        td { (m.partitions.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")) }
                        td.num.lease { (layout::duration_ms(m.lease_expires_at.saturating_sub(now))) }
                    }
                } }
            } }
        }
        h2 { "Partitions" }
        div.scroll { table {
            thead { tr {
                th scope="col" { "Topic" } th.num scope="col" { "Partition" } th scope="col" { "Owner" }
                th.num scope="col" { "Epoch" } th.num scope="col" { "Committed" } th.num scope="col" { "High watermark" }
                th.num scope="col" { "Lag (records)" } th.num scope="col" { "Lag (time)" }
            } }
            tbody { @for (p, age) in d.partitions.iter().zip(&ages) {
                tr {
                    td { (p.topic) } td.num { (p.partition) }
                    td.mono { (p.owner.as_deref().unwrap_or("—")) }
                    td.num { (p.epoch.map_or_else(|| "—".to_owned(), |e| e.to_string())) }
                    td.num { (p.committed_offset.map_or_else(|| "—".to_owned(), |c| c.to_string())) }
                    td.num { (p.high_watermark) }
                    td.num.lag { (p.lag) }
                    td.num { (age.map_or_else(|| "—".to_owned(), layout::duration_ms)) }
                }
            } }
        } }
    }
}

/// `GET /ui/groups/{group}/live`.
pub async fn live(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(group): Path<String>,
) -> PageResult {
    let d = described(&console, &viewer, &group, Action::Consume).await?;
    Ok(html(live_markup(&console, &d).await))
}

fn reset_form(viewer: &Viewer, d: &GroupDescription) -> Markup {
    let Some(topic) = &d.topic else {
        return html! {};
    };
    html! {
        @if viewer.may(Action::Admin, topic) {
            h2 { "Reset offsets" }
            @if !d.members.is_empty() {
                p.muted id="reset-blocked" { "A reset is possible once no member holds a lease (" (d.members.len()) " live)." }
            } @else {
                form.card.inline method="post" action={"/ui/groups/" (d.group) "/reset"} {
                    (layout::csrf_field(viewer))
                    div {
                        label for="r-to" { "To" }
                        select id="r-to" name="to" {
                            option value="earliest" { "earliest" } option value="latest" { "latest" }
                            option value="time" { "time (UTC)" } option value="offset" { "offset of one partition" }
                        }
                    }
                    div { label for="r-time" { "Time (UTC)" } input id="r-time" name="time" type="datetime-local" step="1"; }
                    div { label for="r-partition" { "Partition" } input id="r-partition" name="partition" type="number" min="0" size="4"; }
                    div { label for="r-offset" { "Offset" } input id="r-offset" name="offset" type="number" min="0" size="8"; }
                    button type="submit" { "Preview the reset" }
                }
            }
        }
    }
}

/// `GET /ui/groups/{group}`.
pub async fn page(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(group): Path<String>,
) -> PageResult {
    let d = described(&console, &viewer, &group, Action::Consume).await?;
    let body = html! {
        h1 { "Group " code { (d.group) } }
        @if let Some(t) = &d.topic { p { "Reads " a href={"/ui/topics/" (t)} { code { (t) } } } }
        div id="group-live" hx-get={"/ui/groups/" (d.group) "/live"} hx-trigger="every 2s" hx-swap="innerHTML" {
            (live_markup(&console, &d).await)
        }
        (reset_form(&viewer, &d))
    };
    Ok(html(layout::page(&viewer, Nav::Groups, &group, body)))
}

/// The reset form's body; `confirm=1` applies it, otherwise it is previewed.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    csrf: String,
    to: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    partition: String,
    #[serde(default)]
    offset: String,
    #[serde(default)]
    confirm: String,
}

fn bad(message: String) -> PageError {
    PageError(ApiError::bad_request(ErrorCode::InvalidReset, message))
}

fn reset_to(form: &ResetForm) -> Result<ResetTo, PageError> {
    match form.to.as_str() {
        "earliest" => Ok(ResetTo::Earliest),
        "latest" => Ok(ResetTo::Latest),
        "time" => super::messages::parse_time(&form.time)
            .map(ResetTo::Timestamp)
            .ok_or_else(|| {
                bad(format!(
                    "time must be YYYY-MM-DDTHH:MM or ms, got {:?}",
                    form.time
                ))
            }),
        "offset" => {
            let p = form
                .partition
                .trim()
                .parse()
                .map_err(|_| bad("partition must be a number".into()))?;
            let o = form
                .offset
                .trim()
                .parse()
                .map_err(|_| bad("offset must be a number".into()))?;
            Ok(ResetTo::Offsets(vec![(p, o)]))
        }
        other => Err(bad(format!(
            "to must be earliest, latest, time or offset, got {other:?}"
        ))),
    }
}

/// Where a reset would put each partition: `(partition, committed now, target)`.
async fn preview(
    console: &Console,
    topic: &str,
    d: &GroupDescription,
    to: &ResetTo,
) -> Result<Vec<(u32, Option<u64>, u64)>, PageError> {
    let t = console.broker.topics.get(topic).ok_or_else(|| {
        PageError(ApiError::UnknownTopic {
            topic: topic.to_owned(),
        })
    })?;
    let mut out = Vec::new();
    for p in t.partitions() {
        let b = p.offsets();
        let target = match to {
            ResetTo::Earliest => Some(b.log_start_offset),
            ResetTo::Latest => Some(b.high_watermark),
            ResetTo::Timestamp(ts) => Some(
                p.offset_for_timestamp(*ts)
                    .await
                    .map_err(ApiError::from)?
                    .unwrap_or(b.high_watermark),
            ),
            ResetTo::Offsets(list) => list.iter().find(|(id, _)| *id == p.id()).map(|x| x.1),
        };
        if let Some(target) = target {
            let now = d
                .partitions
                .iter()
                .find(|x| x.topic == topic && x.partition == p.id())
                .and_then(|x| x.committed_offset);
            out.push((p.id(), now, target));
        }
    }
    Ok(out)
}

/// `POST /ui/groups/{group}/reset`: previews, or with `confirm=1` applies (409 while a member
/// is live, from the service).
pub async fn reset(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(group): Path<String>,
    Form(form): Form<ResetForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    let d = described(&console, &viewer, &group, Action::Admin).await?;
    let topic = d
        .topic
        .clone()
        .ok_or_else(|| bad(format!("group {group} is not bound to a topic")))?;
    let to = reset_to(&form)?;
    if form.confirm == "1" {
        console.broker.reset_offsets(&group, &topic, to).await?;
        return Ok(Redirect::to(&format!("/ui/groups/{group}")).into_response());
    }
    let moves = preview(&console, &topic, &d, &to).await?;
    let body = html! {
        h1 { "Reset " code { (group) } "?" }
        @if !d.members.is_empty() {
            p.error role="alert" { (d.members.len()) " members hold a lease: the reset would be refused." }
        }
        div.scroll { table {
            thead { tr { th.num scope="col" { "Partition" } th.num scope="col" { "Committed now" } th.num scope="col" { "Would become" } } }
            tbody { @for (p, now, target) in &moves {
                tr { td.num { (p) } td.num { (now.map_or_else(|| "—".to_owned(), |n| n.to_string())) } td.num { (target) } }
            } }
        } }
        form.inline method="post" action={"/ui/groups/" (group) "/reset"} {
            (layout::csrf_field(&viewer))
            input type="hidden" name="to" value=(form.to);
            input type="hidden" name="time" value=(form.time);
            input type="hidden" name="partition" value=(form.partition);
            input type="hidden" name="offset" value=(form.offset);
            input type="hidden" name="confirm" value="1";
            button.danger type="submit" { "Apply the reset" }
            a href={"/ui/groups/" (group)} { "Cancel" }
        }
    };
    Ok(html(layout::page(&viewer, Nav::Groups, "Reset", body)))
}

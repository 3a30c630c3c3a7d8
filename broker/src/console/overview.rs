//! The overview: health, version, uptime, disk used and free, produce and fetch rates (records/s,
//! bytes/s) and fsync p99 as charts over the last 15 minutes (from the [`sampler`](super::sampler)),
//! the busiest topics and the groups with the largest lag. The numbers refresh every 5 s.

use std::sync::Arc;

use axum::extract::State;
use maud::{Markup, html};

use super::charts::line_chart;
use super::layout::{self, Nav};
use super::session::Viewer;
use super::{Console, PageResult, html};
use crate::config::Action;
use crate::state::now_ms;

/// Bytes free and in total on the file system of `path`.
fn disk_space(path: &std::path::Path) -> Option<(u64, u64)> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some((s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize))
}

fn per_second(v: f64) -> String {
    format!("{v:.1}/s")
}

async fn live_markup(console: &Console, viewer: &Viewer) -> Markup {
    let broker = &console.broker;
    let now = now_ms();
    let topics: Vec<_> = broker
        .topics
        .list()
        .into_iter()
        .filter(|t| viewer.caller.sees(&t.name))
        .collect();
    let used: u64 = broker
        .topics
        .list()
        .iter()
        .map(|t| super::topics::totals(t).1)
        .sum();
    let space = disk_space(&broker.config.data_dir);
    let rates = console.sampler.rates();
    let busiest: Vec<(String, f64)> = console
        .sampler
        .topic_rates()
        .into_iter()
        .filter(|(t, _)| viewer.caller.sees(t))
        .take(5)
        .collect();
    let mut lagging = Vec::new();
    if let Ok(groups) = broker.list_groups(|t| viewer.may(Action::Consume, t)).await {
        for g in groups {
            if let Ok(d) = broker.describe_group(&g.group).await {
                lagging.push((g.group, d.partitions.iter().map(|p| p.lag).sum::<u64>()));
            }
        }
    }
    lagging.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    lagging.truncate(5);
    let uptime = u64::try_from(console.started.elapsed().as_millis()).unwrap_or(u64::MAX);
    html! {
        div.grid {
            div.card.stat { "Health" b id="health" {
                @if broker.is_stopping() { span.error { "stopping" } } @else { span.ok { "ready" } }
            } }
            div.card.stat { "Version" b { (env!("CARGO_PKG_VERSION")) } }
            div.card.stat { "Uptime" b { (layout::duration_ms(uptime)) } }
            div.card.stat { "Disk used by logs" b { (layout::bytes(used)) } }
            div.card.stat { "Disk free" b {
                @match space {
                    Some((free, total)) => { (layout::bytes(free)) " of " (layout::bytes(total)) },
                    None => "unknown",
                }
            } }
            div.card.stat { "Topics" b { (topics.len()) } }
        }
        div.grid {
            (line_chart("produce records/s", &rates.produce_records, now, per_second))
            (line_chart("produce bytes/s", &rates.produce_bytes, now, |v| format!("{}/s", layout::bytes(v as u64))))
            (line_chart("fetch records/s", &rates.fetch_records, now, per_second))
            (line_chart("fetch bytes/s", &rates.fetch_bytes, now, |v| format!("{}/s", layout::bytes(v as u64))))
            (line_chart("fsync p99", &rates.fsync_p99, now, |v| format!("{:.2} ms", v * 1000.0)))
        }
        div.grid {
            div.card {
                h2 { "Busiest topics" }
                @if busiest.is_empty() { p.muted { "No produce traffic sampled yet." } }
                ol { @for (t, r) in &busiest { li { a href={"/ui/topics/" (t)} { (t) } " · " (per_second(*r)) } } }
            }
            div.card {
                h2 { "Largest lag" }
                @if lagging.is_empty() { p.muted { "No groups." } }
                ol { @for (g, lag) in &lagging { li { a href={"/ui/groups/" (g)} { (g) } " · " (lag) " records" } } }
            }
        }
    }
}

/// `GET /ui/`.
pub async fn page(State(console): State<Arc<Console>>, viewer: Viewer) -> PageResult {
    let live = live_markup(&console, &viewer).await;
    let body = html! {
        h1 { "Overview" }
        div id="overview-live" hx-get="/ui/overview/live" hx-trigger="every 5s" hx-swap="innerHTML" { (live) }
    };
    Ok(html(layout::page(&viewer, Nav::Overview, "Overview", body)))
}

/// `GET /ui/overview/live`: the numbers alone.
pub async fn live(State(console): State<Arc<Console>>, viewer: Viewer) -> PageResult {
    Ok(html(live_markup(&console, &viewer).await))
}

//! The topics list and topic administration: create (the naming convention shown, and enforced
//! where the broker enforces it), raise partitions, change retention, delete behind a typed
//! confirmation. Only viewers with `admin` on a topic see (or may post) its forms.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde::Deserialize;
use wharf_proto::ErrorCode;
use wharf_proto::api::{CreateTopic, PatchTopic};

use super::layout::{self, Nav};
use super::session::Viewer;
use super::{Console, PageError, PageResult, html};
use crate::api::error::ApiError;
use crate::config::Action;
use crate::state::now_ms;
use crate::topic::Topic;

/// Records a topic holds now (high watermark minus log start, over its partitions) and bytes.
pub fn totals(topic: &Topic) -> (u64, u64) {
    topic.partitions().iter().fold((0, 0), |(r, b), p| {
        let o = p.offsets();
        (
            r + o.high_watermark.saturating_sub(o.log_start_offset),
            b + o.size_bytes,
        )
    })
}

/// The rows of the topics table (also served alone for live refresh).
fn rows(console: &Console, viewer: &Viewer) -> Markup {
    let topics: Vec<Arc<Topic>> = console
        .broker
        .topics
        .list()
        .into_iter()
        .filter(|t| viewer.caller.sees(&t.name))
        .collect();
    html! {
        @if topics.is_empty() {
            tr { td colspan="5" .muted { "No topics yet." } }
        }
        @for t in &topics {
            @let (records, size) = totals(t);
            @let d = t.describe(false);
            tr {
                td { a href={"/ui/topics/" (t.name)} { (t.name) } }
                td.num { (d.partitions) }
                td.num { (records) }
                td.num { (layout::bytes(size)) }
                td { (layout::retention_ms(d.retention_ms)) }
            }
        }
    }
}

/// `GET /ui/topics`.
pub async fn list(State(console): State<Arc<Console>>, viewer: Viewer) -> PageResult {
    let rules = console.broker.topics.rules();
    let enforce = rules.enforce_naming;
    let body = html! {
        h1 { "Topics" }
        div.scroll {
            table {
                thead { tr {
                    th scope="col" { "Topic" } th.num scope="col" { "Partitions" }
                    th.num scope="col" { "Records" } th.num scope="col" { "Size" }
                    th scope="col" { "Retention" }
                } }
                tbody id="topic-rows" hx-get="/ui/topics?rows=1" hx-trigger="every 5s" hx-swap="innerHTML" {
                    (rows(&console, &viewer))
                }
            }
        }
        @if viewer.caller.may_somewhere(Action::Admin) {
            h2 { "Create a topic" }
            form.card.inline method="post" action="/ui/topics" {
                (layout::csrf_field(&viewer))
                div {
                    label for="name" { "Name" }
                    @if enforce {
                        input id="name" name="name" required size="36"
                            pattern="[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+(\\.dlq)?"
                            placeholder="order.order-service.created";
                    } @else {
                        input id="name" name="name" required size="36" placeholder="order.order-service.created";
                    }
                }
                div {
                    label for="partitions" { "Partitions" }
                    input id="partitions" name="partitions" type="number" min="1"
                        max=(rules.max_partitions) value=(rules.defaults.partitions) required;
                }
                div {
                    label for="retention_ms" { "Retention (ms, -1 = unlimited)" }
                    input id="retention_ms" name="retention_ms" type="number" min="-1"
                        placeholder=(rules.defaults.retention_ms);
                }
                button type="submit" { "Create" }
            }
            p.muted {
                "Convention: " code { "<domain>.<service>.<event>" } " (optionally " code { ".dlq" } "), e.g. "
                code { "order.order-service.created" } "."
                @if enforce { " This broker enforces it." } @else { " Recommended; this broker does not enforce it." }
            }
        }
    };
    Ok(html(layout::page(&viewer, Nav::Topics, "Topics", body)))
}

/// `GET /ui/topics?rows=1` answers only the rows; the router sends both here.
pub async fn list_or_rows(
    state: State<Arc<Console>>,
    viewer: Viewer,
    query: axum::extract::Query<RowsQuery>,
) -> PageResult {
    if query.rows.is_some() {
        return Ok(html(rows(&state, &viewer)));
    }
    list(state, viewer).await
}

/// `?rows=1`: the table body alone.
#[derive(Debug, Deserialize)]
pub struct RowsQuery {
    rows: Option<u8>,
}

/// The create form's body.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    csrf: String,
    name: String,
    partitions: u32,
    #[serde(default)]
    retention_ms: String,
}

fn optional_i64(field: &str, text: &str) -> Result<Option<i64>, PageError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|_| {
        PageError(ApiError::bad_request(
            ErrorCode::InvalidTopicConfig,
            format!("{field} must be a whole number, got {text:?}"),
        ))
    })
}

/// `POST /ui/topics`: creates the topic and opens its page.
pub async fn create(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Form(form): Form<CreateForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    let name = form.name.trim().to_owned();
    viewer.require(Action::Admin, &name)?;
    let req = CreateTopic {
        retention_ms: optional_i64("retention_ms", &form.retention_ms)?,
        ..CreateTopic::new(name.clone(), form.partitions)
    };
    console.broker.topics.create(req, now_ms()).await?;
    Ok(Redirect::to(&format!("/ui/topics/{name}")).into_response())
}

/// The settings form of the topic page (admins only).
pub fn settings_form(viewer: &Viewer, topic: &Topic) -> Markup {
    let d = topic.describe(false);
    html! {
        @if viewer.may(Action::Admin, &topic.name) {
            h2 { "Settings" }
            form.card.inline method="post" action={"/ui/topics/" (topic.name) "/settings"} {
                (layout::csrf_field(viewer))
                div {
                    label for="set-partitions" { "Partitions (can only grow)" }
                    input id="set-partitions" name="partitions" type="number" min=(d.partitions) value=(d.partitions);
                }
                div {
                    label for="set-retention" { "Retention (ms, -1 = unlimited)" }
                    input id="set-retention" name="retention_ms" type="number" min="-1" value=(d.retention_ms);
                }
                button type="submit" { "Save" }
            }
            h2 { "Delete" }
            form.card.inline method="post" action={"/ui/topics/" (topic.name) "/delete"} {
                (layout::csrf_field(viewer))
                div {
                    label for="confirm" { "Type the topic's name to delete it and its groups' offsets" }
                    input id="confirm" name="confirm" required autocomplete="off" size="36";
                }
                button.danger type="submit" { "Delete topic" }
            }
        }
    }
}

/// The settings form's body.
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    csrf: String,
    partitions: u32,
    retention_ms: String,
}

/// `POST /ui/topics/{topic}/settings`.
pub async fn patch(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<SettingsForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Action::Admin, &name)?;
    let patch = PatchTopic {
        partitions: Some(form.partitions),
        retention_ms: optional_i64("retention_ms", &form.retention_ms)?,
        ..PatchTopic::default()
    };
    console.broker.topics.patch(&name, patch).await?;
    Ok(Redirect::to(&format!("/ui/topics/{name}")).into_response())
}

/// The delete form's body: `confirm` must repeat the name.
#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    csrf: String,
    confirm: String,
}

/// `POST /ui/topics/{topic}/delete`: only when the confirmation names the topic.
pub async fn delete(
    State(console): State<Arc<Console>>,
    viewer: Viewer,
    Path(name): Path<String>,
    Form(form): Form<DeleteForm>,
) -> PageResult {
    viewer.check_csrf(&form.csrf)?;
    viewer.require(Action::Admin, &name)?;
    if form.confirm.trim() != name {
        return Err(PageError(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("type {name:?} to confirm the deletion"),
        )));
    }
    if console.broker.topics.get(&name).is_none() {
        return Err(PageError(ApiError::UnknownTopic { topic: name }));
    }
    console.broker.delete_topic(&name).await?;
    Ok(Redirect::to("/ui/topics").into_response())
}

//! The web console at `/ui/`: server-rendered HTML (maud templates, compiled into the binary)
//! with vendored htmx for live refresh. It is part of the HTTP side: handlers extract, authorise,
//! call the [`service`](crate::service) layer and the shared [`Broker`] directly (never HTTP
//! back into the broker) and render. Errors become statuses through [`ApiError`] only.
//!
//! - [`session`]: login with a token (HttpOnly SameSite=Strict cookie), the CSRF token every
//!   form carries, and the [`session::Viewer`] every page is rendered for.
//! - [`layout`]: the page shell, navigation, formatting helpers; [`assets`]: embedded CSS/JS.
//! - [`overview`] (+ [`sampler`], [`charts`]), [`topics`], [`messages`] (+ [`records`],
//!   [`schemas`]: the topic page's schema card), [`produce`], [`groups`], [`dlq`]: the pages and
//!   their forms.
//!
//! What a token may not do is neither rendered nor accepted: every mutation checks the same
//! rights as the API, after the CSRF check.

pub mod assets;
pub mod charts;
#[cfg(test)]
mod dashboard_tests;
pub mod dlq;
pub mod groups;
pub mod layout;
pub mod messages;
pub mod overview;
pub mod produce;
pub mod records;
pub mod sampler;
pub mod schemas;
pub mod session;
pub mod topics;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::api::error::ApiError;
use crate::state::Broker;

/// What every console handler shares: the broker, the sampler and the CSRF secret.
#[derive(Debug)]
pub struct Console {
    pub broker: Arc<Broker>,
    pub sampler: Arc<sampler::Sampler>,
    /// Per-process secret the CSRF tokens are keyed with (they are void after a restart).
    pub secret: [u8; 32],
    /// When this console was built: the broker's uptime is measured from here.
    pub started: std::time::Instant,
}

/// A console page failed: rendered as a small HTML page with the API's status for the error.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        Self(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let code = self.0.code();
        let body = layout::error_page(status, code.as_str(), &self.0.to_string());
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
        response
    }
}

/// The result of a console handler.
pub type PageResult = Result<Response, PageError>;

/// The console's routes (all under `/ui`), to be merged into the API router. Starts the rate sampler on the runtime.
pub fn router(broker: Arc<Broker>) -> Router<Arc<Broker>> {
    let sampler = Arc::new(sampler::Sampler::new());
    sampler::spawn(Arc::clone(&sampler), Arc::clone(&broker));
    let console = Arc::new(Console {
        broker,
        sampler,
        secret: session::new_secret(),
        started: std::time::Instant::now(),
    });
    Router::new()
        .route("/ui", get(to_index))
        .route("/ui/", get(overview::page))
        .route("/ui/overview/live", get(overview::live))
        .route("/ui/login", get(session::login_form).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/assets/{name}", get(assets::serve))
        .route("/ui/topics", get(topics::list_or_rows).post(topics::create))
        .route("/ui/topics/{topic}", get(messages::topic_page))
        .route(
            "/ui/topics/{topic}/partitions",
            get(messages::partitions_live),
        )
        .route("/ui/topics/{topic}/messages", get(messages::browse))
        .route("/ui/topics/{topic}/search", get(messages::search))
        .route(
            "/ui/topics/{topic}/partitions/{partition}/records/{offset}/blob",
            get(messages::blob),
        )
        .route("/ui/topics/{topic}/settings", post(topics::patch))
        .route("/ui/topics/{topic}/delete", post(topics::delete))
        .route(
            "/ui/topics/{topic}/produce",
            get(produce::form).post(produce::submit),
        )
        .route("/ui/groups", get(groups::list))
        .route("/ui/groups/{group}", get(groups::page))
        .route("/ui/groups/{group}/live", get(groups::live))
        .route("/ui/groups/{group}/reset", post(groups::reset))
        .route("/ui/dlq", get(dlq::list))
        .route("/ui/dlq/{topic}", get(dlq::page))
        .route("/ui/dlq/{topic}/replay", post(dlq::replay))
        .with_state(console)
}

/// `/ui` without its slash.
pub async fn to_index() -> Redirect {
    Redirect::permanent("/ui/")
}

/// An HTML answer that no cache keeps (pages differ per token).
pub fn html(markup: maud::Markup) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}

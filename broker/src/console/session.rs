//! Console sessions: with tokens configured, the login form puts the token in an HttpOnly,
//! SameSite=Strict cookie scoped to `/ui`; every page is rendered for the [`Viewer`] that cookie
//! names, and every mutation carries a CSRF token, `sha256(secret ‖ token)` with a per-process
//! secret, so a page on another site can neither read nor forge it. With auth off the viewer may
//! do everything and the CSRF token is keyed on the empty token.

use std::sync::Arc;

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Console, PageError, layout};
use crate::api::error::ApiError;
use crate::auth::Caller;
use crate::config::Action;

/// The session cookie's name.
pub const COOKIE: &str = "wharf_console";

/// A fresh random secret for this process's CSRF tokens.
pub fn new_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret
}

/// The CSRF token of the session holding `token`.
pub fn csrf_token(secret: &[u8; 32], token: &str) -> String {
    let mut h = Sha256::new();
    h.update(secret);
    h.update([0u8]);
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// Compares without an early exit, so the time taken says nothing about the expected token.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Who a page is rendered for.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub caller: Caller,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    /// Whether tokens are configured (a logout button then makes sense).
    pub auth_on: bool,
}

impl Viewer {
    /// Whether the viewer may do `action` on `topic`.
    pub fn may(&self, action: Action, topic: &str) -> bool {
        self.caller.may(action, topic)
    }

    /// Checks a right: 403 otherwise.
    pub fn require(&self, action: Action, topic: &str) -> Result<(), PageError> {
        Ok(self.caller.require(action, topic)?)
    }

    /// Checks the CSRF token a form carried: 403 otherwise.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if same(&self.csrf, sent) {
            Ok(())
        } else {
            Err(PageError(ApiError::CsrfRejected))
        }
    }
}

/// The token the session cookie carries (hex, so any token fits in a cookie value).
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .and_then(|(_, value)| hex::decode(value).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

/// Sent to the login form instead of a page.
#[derive(Debug)]
pub struct LoginRequired;

impl IntoResponse for LoginRequired {
    fn into_response(self) -> Response {
        let mut response = Redirect::to("/ui/login").into_response();
        // htmx swaps a redirect's target into the page; make it load the login page instead.
        response
            .headers_mut()
            .insert("hx-redirect", "/ui/login".parse().expect("static"));
        response
    }
}

impl FromRequestParts<Arc<Console>> for Viewer {
    type Rejection = LoginRequired;

    async fn from_request_parts(
        parts: &mut Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Self::Rejection> {
        let auth = &console.broker.auth;
        if !auth.enabled() {
            let caller = auth.authenticate(None).map_err(|_| LoginRequired)?;
            return Ok(Self {
                caller,
                csrf: csrf_token(&console.secret, ""),
                auth_on: false,
            });
        }
        let token = session_token(&parts.headers).ok_or(LoginRequired)?;
        let caller = auth.authenticate(Some(&token)).map_err(|_| LoginRequired)?;
        Ok(Self {
            caller,
            csrf: csrf_token(&console.secret, &token),
            auth_on: true,
        })
    }
}

/// `GET /ui/login`.
pub async fn login_form(State(console): State<Arc<Console>>) -> Response {
    login_page(&console, StatusCode::OK, None)
}

fn login_page(console: &Console, status: StatusCode, problem: Option<&str>) -> Response {
    let body = layout::bare(
        "Log in",
        html! {
            h1 { "Wharf console" }
            @if !console.broker.auth.enabled() {
                p { "Auth is off on this broker: " a href="/ui/" { "open the console" } "." }
            } @else {
                form method="post" action="/ui/login" class="card" {
                    label for="token" { "Token" }
                    input id="token" name="token" type="password" required autocomplete="current-password" autofocus;
                    @if let Some(p) = problem { p.error role="alert" { (p) } }
                    button type="submit" { "Log in" }
                }
            }
        },
    );
    let mut response = (status, super::html(body)).into_response();
    *response.status_mut() = status;
    response
}

/// The login form's body.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
}

/// `POST /ui/login`: a known token gets the session cookie; an unknown one the form again (401).
pub async fn login(State(console): State<Arc<Console>>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    if console.broker.auth.authenticate(Some(token)).is_err() {
        return login_page(&console, StatusCode::UNAUTHORIZED, Some("unknown token"));
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/ui; HttpOnly; SameSite=Strict",
        hex::encode(token)
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/ui/")).into_response()
}

/// The body of forms that carry nothing but the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    pub csrf: String,
}

/// `POST /ui/logout`: clears the cookie.
pub async fn logout(viewer: Viewer, Form(form): Form<CsrfOnly>) -> Result<Response, PageError> {
    viewer.check_csrf(&form.csrf)?;
    let cookie = format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/ui/login")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_session_and_per_secret() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(csrf_token(&a, "t1"), csrf_token(&a, "t2"));
        assert_ne!(csrf_token(&a, "t1"), csrf_token(&b, "t1"));
        assert_eq!(csrf_token(&a, "t1"), csrf_token(&a, "t1"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn the_session_cookie_is_read_among_others() {
        let mut headers = HeaderMap::new();
        let value = format!("other=1; {COOKIE}={}; x=y", hex::encode("tok;en"));
        headers.insert(header::COOKIE, value.parse().unwrap());
        assert_eq!(session_token(&headers).as_deref(), Some("tok;en"));
        headers.insert(header::COOKIE, "other=1".parse().unwrap());
        assert_eq!(session_token(&headers), None);
    }
}

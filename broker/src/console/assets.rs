//! The console's static files, embedded in the binary (no CDN, no build step): the hand-written
//! stylesheet and icon (without a declared icon a browser asks for `/favicon.ico` and logs the
//! 404 as a console error), and htmx (vendored from the npm package `htmx.org`, licence in
//! `assets/htmx.LICENSE`).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &[u8] = include_bytes!("assets/console.css");
const HTMX: &[u8] = include_bytes!("assets/htmx.min.js");
const ICON: &[u8] = include_bytes!("assets/favicon.svg");

/// The embedded file called `name`, if there is one.
pub fn lookup(name: &str) -> Option<(&'static str, &'static [u8])> {
    match name {
        "console.css" => Some(("text/css; charset=utf-8", CSS)),
        "htmx.min.js" => Some(("text/javascript; charset=utf-8", HTMX)),
        "favicon.svg" => Some(("image/svg+xml", ICON)),
        _ => None,
    }
}

/// `GET /ui/assets/{name}`: cacheable (the same for every viewer).
pub async fn serve(Path(name): Path<String>) -> Response {
    match lookup(&name) {
        Some((content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assets_are_embedded_and_nothing_else_is_served() {
        let (kind, css) = lookup("console.css").unwrap();
        assert!(kind.starts_with("text/css") && !css.is_empty());
        let (_, js) = lookup("htmx.min.js").unwrap();
        assert!(std::str::from_utf8(js).unwrap().contains("htmx"));
        let (kind, icon) = lookup("favicon.svg").unwrap();
        assert!(kind == "image/svg+xml" && icon.starts_with(b"<svg"));
        assert!(lookup("../mod.rs").is_none());
    }
}

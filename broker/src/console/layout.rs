//! The page shell (header, navigation, main landmark), the error page, and the formatting
//! helpers every page uses (bytes, times, ages).

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};

use super::session::Viewer;

/// Which navigation entry a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Topics,
    Groups,
    Dlq,
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Wharf" }
            link rel="stylesheet" href="/ui/assets/console.css";
            link rel="icon" type="image/svg+xml" href="/ui/assets/favicon.svg";
            script src="/ui/assets/htmx.min.js" defer {}
        }
    }
}

/// A full page for `viewer`, with the navigation and `body` in the main landmark.
pub fn page(viewer: &Viewer, nav: Nav, title: &str, body: Markup) -> Markup {
    let entry = |n: Nav, href: &str, label: &str| {
        html! {
            @if n == nav {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/ui/" { "Wharf" }
                    nav aria-label="Main" {
                        (entry(Nav::Overview, "/ui/", "Overview"))
                        (entry(Nav::Topics, "/ui/topics", "Topics"))
                        (entry(Nav::Groups, "/ui/groups", "Groups"))
                        (entry(Nav::Dlq, "/ui/dlq", "DLQ"))
                    }
                    @if viewer.auth_on {
                        form.logout method="post" action="/ui/logout" {
                            (csrf_field(viewer))
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main id="main" tabindex="-1" { (body) }
            }
        }
    }
}

/// A page without navigation (login).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { main id="main" { (body) } }
        }
    }
}

/// The error page: status, stable code, message.
pub fn error_page(status: StatusCode, code: &str, message: &str) -> String {
    bare(
        status.canonical_reason().unwrap_or("Error"),
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.error role="alert" { code { (code) } ": " (message) }
            p { a href="/ui/" { "Back to the console" } }
        },
    )
    .into_string()
}

/// The hidden CSRF field every mutating form carries.
pub fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// `1536` → `1.5 KiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS.mmm` UTC.
pub fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A duration in ms as `3.2 s`, `4 min 5 s`, `2 h 3 min`, `5 d 2 h`.
pub fn duration_ms(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{:.1} s", ms as f64 / 1000.0),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Retention in Kafka's convention (`-1` = unlimited).
pub fn retention_ms(ms: i64) -> String {
    u64::try_from(ms).map_or_else(|_| "unlimited".to_owned(), duration_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_bytes_times_and_durations() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(timestamp(0), "1970-01-01 00:00:00.000");
        assert_eq!(timestamp(1_732_240_000_123), "2024-11-22 01:46:40.123");
        assert_eq!(duration_ms(1500), "1.5 s");
        assert_eq!(duration_ms(125_000), "2 min 5 s");
        assert_eq!(duration_ms(90_000_000), "1 d 1 h");
        assert_eq!(retention_ms(-1), "unlimited");
    }
}

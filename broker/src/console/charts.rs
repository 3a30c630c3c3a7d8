//! Server-side SVG line charts: a polyline over a fixed 15-minute window, scaled to the series'
//! maximum, with a title and the latest value as text (so the chart is readable without the
//! picture too).

use maud::{Markup, html};

const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 90.0;
const TOP: f64 = 18.0;
/// The window the x axis covers.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// Chart of `points` (`(ms, value)`) ending at `now_ms`; `format` renders a value with its unit.
pub fn line_chart(
    title: &str,
    points: &[(i64, f64)],
    now_ms: i64,
    format: impl Fn(f64) -> String,
) -> Markup {
    let start = now_ms - WINDOW_MS;
    let shown: Vec<(i64, f64)> = points
        .iter()
        .copied()
        .filter(|(t, _)| *t >= start)
        .collect();
    let max = shown.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let scale = if max > 0.0 { max } else { 1.0 };
    let coords: Vec<String> = shown
        .iter()
        .map(|&(t, v)| {
            let x = (t - start) as f64 / WINDOW_MS as f64 * WIDTH;
            let y = TOP + (HEIGHT - TOP) * (1.0 - v / scale);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let latest = points
        .last()
        .map_or_else(|| "no data yet".to_owned(), |p| format(p.1));
    let label = format!("{title}: latest {latest}, peak {}", format(max));
    html! {
        figure.chart {
            svg.chart viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-label=(label) {
                text x="4" y="12" { (title) }
                text x=(WIDTH - 4.0) y="12" text-anchor="end" { (latest) }
                line x1="0" y1=(HEIGHT - 0.5) x2=(WIDTH) y2=(HEIGHT - 0.5) stroke="#d8dde3" {}
                @if !coords.is_empty() {
                    polyline points=(coords.join(" ")) {}
                }
            }
            figcaption.muted { "peak " (format(max)) " · last 15 min" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_scales_to_the_peak_and_drops_points_outside_the_window() {
        let now = 1_000_000_000;
        let svg = line_chart(
            "produce",
            &[(now - WINDOW_MS - 1, 99.0), (now - 1000, 5.0), (now, 10.0)],
            now,
            |v| format!("{v:.0}/s"),
        )
        .into_string();
        assert!(svg.contains("<svg"));
        // Two points in the window; the newer, at the peak of those, sits top right.
        let points = svg.split("points=\"").nth(1).unwrap();
        let points = &points[..points.find('"').unwrap()];
        assert_eq!(points.split(' ').count(), 2, "{points}");
        assert!(points.ends_with("300.0,18.0"), "{points}");
        assert!(svg.contains("peak 10/s"), "{svg}");
        assert!(svg.contains("latest 10/s"));
    }

    #[test]
    fn an_empty_series_says_so() {
        let svg = line_chart("x", &[], 0, |v| format!("{v}")).into_string();
        assert!(svg.contains("no data yet") && !svg.contains("polyline"));
    }
}

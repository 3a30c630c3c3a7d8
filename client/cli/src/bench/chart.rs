//! The PNG chart of a bench run: throughput over time (top) and latency by percentile
//! (bottom, log scale, one line per phase).
//!
//! plotters is built without font support (its font backends need system libraries), so
//! nothing here may ask plotters to draw text: no captions, meshes or legends. Labels are drawn
//! pixel by pixel from font8x8's built-in 8x8 glyphs by [`draw_text`].

use std::path::Path;

use anyhow::Context;
use font8x8::UnicodeFonts;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::report::{BenchReport, mode_name};

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 820;
const PHASE_COLORS: [RGBColor; 3] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
];
const GRID: RGBColor = RGBColor(225, 225, 225);
const INK: RGBColor = RGBColor(30, 30, 30);
/// Percentile labels of the latency x axis, at 0..=5 "nines".
const NINES_LABELS: [&str; 6] = ["p0", "p90", "p99", "p99.9", "p99.99", "p99.999"];

/// Renders the chart and writes it to `path` (through a temporary sibling and a rename).
pub fn write_png(report: &BenchReport, path: &Path) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp.png");
    let tmp = std::path::PathBuf::from(tmp);
    render(report, &tmp).with_context(|| format!("drawing the chart {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn render(report: &BenchReport, path: &Path) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let c = &report.config;
    draw_text(&root, 20, 10, "wharf bench", &INK, 2);
    let details = format!(
        "{}  {} records x {} B  batch {}  {} partitions  acks {}  {} producer(s)  {} consumer(s)",
        mode_name(c),
        c.records,
        c.record_bytes,
        c.batch_size,
        c.partitions,
        c.acks,
        c.producers,
        c.consumers
    );
    draw_text(&root, 20, 32, &details, &INK, 1);
    let (top, bottom) = root.split_vertically(HEIGHT / 2);
    throughput_panel(&root, &top, report)?;
    latency_panel(&root, &bottom, report)?;
    // Legend, beside the throughput title.
    for (i, phase) in report.phases.iter().enumerate() {
        let color = PHASE_COLORS[i % PHASE_COLORS.len()];
        let y = 62;
        let x = 560 + 150 * i as i32;
        root.draw(&Rectangle::new(
            [(x, y + 4), (x + 24, y + 8)],
            color.filled(),
        ))?;
        draw_text(&root, x + 32, y, &phase.phase, &INK, 2);
    }
    root.present()?;
    Ok(())
}

fn throughput_panel(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    report: &BenchReport,
) -> anyhow::Result<()> {
    let series: Vec<Vec<(f64, f64)>> = report
        .phases
        .iter()
        .map(|p| {
            if p.timeline.is_empty() {
                vec![(0.0, p.records_per_s), (p.elapsed_s, p.records_per_s)]
            } else {
                p.timeline
                    .iter()
                    .map(|s| (s.t_s, s.records_per_s))
                    .collect()
            }
        })
        .collect();
    let x_max = series
        .iter()
        .flatten()
        .map(|(t, _)| *t)
        .fold(0.0, f64::max)
        .max(0.001);
    let y_max = series
        .iter()
        .flatten()
        .map(|(_, r)| *r)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .margin_top(80)
        .margin_left(100)
        .margin_right(40)
        .margin_bottom(40)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    for x in nice_ticks(x_max) {
        chart.draw_series(LineSeries::new([(x, 0.0), (x, y_max)], GRID))?;
        let (px, py) = chart.backend_coord(&(x, 0.0));
        draw_text(root, px - 12, py + 6, &short(x), &INK, 1);
    }
    for y in nice_ticks(y_max) {
        chart.draw_series(LineSeries::new([(0.0, y), (x_max, y)], GRID))?;
        let (px, py) = chart.backend_coord(&(0.0, y));
        let label = short(y);
        draw_text(
            root,
            px - 8 - 8 * label.len() as i32,
            py - 4,
            &label,
            &INK,
            1,
        );
    }
    frame(&mut chart, (0.0, x_max), (0.0, y_max))?;
    for (i, points) in series.into_iter().enumerate() {
        let color = PHASE_COLORS[i % PHASE_COLORS.len()];
        chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
    }
    let (x0, y0) = chart.backend_coord(&(0.0, y_max));
    draw_text(root, x0, y0 - 22, "throughput (records/s)", &INK, 2);
    let (x1, y1) = chart.backend_coord(&(x_max, 0.0));
    draw_text(
        root,
        x1 - 200,
        y1 + 20,
        "seconds since phase start",
        &INK,
        1,
    );
    Ok(())
}

fn latency_panel(
    root: &DrawingArea<BitMapBackend<'_>, Shift>,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    report: &BenchReport,
) -> anyhow::Result<()> {
    let series: Vec<Vec<(f64, f64)>> = report
        .phases
        .iter()
        .map(|p| {
            p.latency
                .by_quantile
                .iter()
                .map(|(q, us)| (-(1.0 - q).max(1e-5).log10(), (*us).max(1) as f64))
                .collect()
        })
        .collect();
    let y_max = report
        .phases
        .iter()
        .map(|p| p.latency.max_us)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let y_min = report
        .phases
        .iter()
        .map(|p| p.latency.min_us)
        .min()
        .unwrap_or(1)
        .max(1) as f64;
    // Whole decades, so the grid lines sit on the axis ends.
    let y_lo = 10f64.powf(y_min.log10().floor());
    let y_hi = 10f64.powf((y_max.log10() + 0.01).ceil());
    let mut chart = ChartBuilder::on(area)
        .margin_top(80)
        .margin_left(100)
        .margin_right(40)
        .margin_bottom(40)
        .build_cartesian_2d(0.0..5.0, (y_lo..y_hi).log_scale())?;
    for (i, label) in NINES_LABELS.iter().enumerate() {
        let x = i as f64;
        chart.draw_series(LineSeries::new([(x, y_lo), (x, y_hi)], GRID))?;
        let (px, py) = chart.backend_coord(&(x, y_lo));
        draw_text(root, px - 4 * label.len() as i32, py + 6, label, &INK, 1);
    }
    let mut decade = y_lo;
    while decade <= y_hi * 1.0001 {
        for mult in [1.0, 2.0, 5.0] {
            let y = decade * mult;
            if y > y_hi * 1.0001 {
                break;
            }
            chart.draw_series(LineSeries::new([(0.0, y), (5.0, y)], GRID))?;
            let (px, py) = chart.backend_coord(&(0.0, y));
            let label = micros_label(y);
            draw_text(
                root,
                px - 8 - 8 * label.len() as i32,
                py - 4,
                &label,
                &INK,
                1,
            );
        }
        decade *= 10.0;
    }
    frame(&mut chart, (0.0, 5.0), (y_lo, y_hi))?;
    for (i, points) in series.into_iter().enumerate() {
        let color = PHASE_COLORS[i % PHASE_COLORS.len()];
        chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
    }
    let (x0, y0) = chart.backend_coord(&(0.0, y_hi));
    draw_text(
        root,
        x0,
        y0 - 22,
        "latency by percentile (log scale)",
        &INK,
        2,
    );
    let (x1, y1) = chart.backend_coord(&(5.0, y_lo));
    draw_text(root, x1 - 80, y1 + 20, "percentile", &INK, 1);
    Ok(())
}

/// The box around a plotting area.
fn frame<X, Y>(
    chart: &mut ChartContext<'_, BitMapBackend<'_>, Cartesian2d<X, Y>>,
    (x0, x1): (X::ValueType, X::ValueType),
    (y0, y1): (Y::ValueType, Y::ValueType),
) -> anyhow::Result<()>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
    X::ValueType: Copy + 'static,
    Y::ValueType: Copy + 'static,
{
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)],
        INK,
    )))?;
    Ok(())
}

/// About five round tick values in `0..=max`.
fn nice_ticks(max: f64) -> Vec<f64> {
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    (0..)
        .map(|i| f64::from(i) * step)
        .take_while(|v| *v <= max)
        .collect()
}

/// A short label: 1.5k, 200k, 1.2m, 0.4.
fn short(v: f64) -> String {
    let (scaled, suffix) = if v >= 1e6 {
        (v / 1e6, "m")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let text = format!("{scaled:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text}{suffix}")
}

/// A latency label from µs: 10µs, 1ms, 10s.
fn micros_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{}s", short(us / 1e6))
    } else if us >= 1e3 {
        format!("{}ms", short(us / 1e3))
    } else {
        format!("{}µs", short(us))
    }
}

/// Draws `text` with its top-left corner at (`x`, `y`), each glyph pixel `scale` pixels wide.
/// Characters without an 8x8 glyph are drawn as `?`.
fn draw_text(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    x: i32,
    y: i32,
    text: &str,
    color: &RGBColor,
    scale: i32,
) {
    let mut cx = x;
    for ch in text.chars() {
        let glyph = font8x8::BASIC_FONTS
            .get(ch)
            .or_else(|| font8x8::LATIN_FONTS.get(ch))
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                // font8x8 stores the leftmost pixel in the lowest bit.
                if bits & (1 << col) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            // Pixels outside the area are clipped by plotters; nothing to do.
                            let _ = area.draw_pixel(
                                (cx + col * scale + dx, y + row as i32 * scale + dy),
                                color,
                            );
                        }
                    }
                }
            }
        }
        cx += 8 * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_within_range() {
        assert_eq!(nice_ticks(10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(260_000.0), vec![0.0, 100_000.0, 200_000.0]);
        assert!(nice_ticks(0.3).iter().all(|t| *t <= 0.3));
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(short(1500.0), "1.5k");
        assert_eq!(short(200_000.0), "200k");
        assert_eq!(micros_label(1000.0), "1ms");
        assert_eq!(micros_label(10.0), "10µs");
    }
}

//! The dashboard's chart: crash-free session rate per version per UTC day, as inline SVG
//! (no script, no external assets). One `<g class="series" data-version=…>` per version
//! with a polyline and a circle per day (its `<title>` gives the exact value).

use std::fmt::Write;

use chrono::DateTime;

use crate::aggregate::Series;
use crate::html::escape;

const W: f64 = 960.0;
const H: f64 = 340.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 20.0;
const BOTTOM: f64 = 44.0;

/// Colours of the series, reused in order.
pub const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

fn day_label(day: i64) -> String {
    DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%m-%d").to_string())
        .unwrap_or_default()
}

/// Renders the chart for days `first_day..=last_day`.
pub fn render(series: &[Series], first_day: i64, last_day: i64) -> String {
    let last_day = last_day.max(first_day + 1);
    let min_rate = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(1.0_f64, f64::min);
    // Lower bound: a multiple of 5 % below the lowest point (at least 5 % of range).
    let y_min = ((min_rate * 20.0).floor() / 20.0).clamp(0.0, 0.95);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x = |day: i64| LEFT + plot_w * (day - first_day) as f64 / (last_day - first_day) as f64;
    let y = |r: f64| TOP + plot_h * (1.0 - (r - y_min) / (1.0 - y_min));

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="crash-free-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="Crash-free session rate per version per day">"#
    );
    let _ = write!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ccc"/>"##
    );
    // Horizontal grid: 5 steps.
    for i in 0..=5 {
        let r = y_min + (1.0 - y_min) * f64::from(i) / 5.0;
        let yy = y(r);
        let _ = write!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#555">{:.0}%</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0,
            r * 100.0
        );
    }
    // Day labels: at most ~10.
    let span = last_day - first_day;
    let step = (span / 10).max(1);
    let mut d = first_day;
    while d <= last_day {
        let xx = x(d);
        let _ = write!(
            s,
            r##"<text x="{xx:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#555">{}</text>"##,
            TOP + plot_h + 16.0,
            day_label(d)
        );
        d += step;
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#333">UTC day (period end)</text>"##,
        LEFT + plot_w / 2.0,
        H - 6.0
    );
    for (i, series) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let version = escape(&series.version);
        let _ = write!(
            s,
            r#"<g class="series" data-version="{version}" stroke="{colour}" fill="{colour}">"#
        );
        if series.points.len() > 1 {
            let pts: Vec<String> = series
                .points
                .iter()
                .map(|&(d, r)| format!("{:.1},{:.1}", x(d), y(r)))
                .collect();
            let _ = write!(
                s,
                r#"<polyline fill="none" stroke-width="2" points="{}"/>"#,
                pts.join(" ")
            );
        }
        for &(d, r) in &series.points {
            let _ = write!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3.5"><title>{version} {}: {:.2}% crash-free sessions</title></circle>"#,
                x(d),
                y(r),
                day_label(d),
                r * 100.0
            );
        }
        let ly = TOP + 14.0 + 18.0 * i as f64;
        let lx = W - RIGHT + 14.0;
        let _ = write!(
            s,
            r##"<rect x="{lx}" y="{:.1}" width="12" height="12"/><text x="{:.1}" y="{ly:.1}" font-size="12" stroke="none" fill="#222">{version}</text></g>"##,
            ly - 10.0,
            lx + 18.0
        );
    }
    if series.iter().all(|s| s.points.is_empty()) {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="14" text-anchor="middle" fill="#777">No version has enough devices to show in this window.</text>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    s.push_str("</svg>");
    s
}

//! `GET /`: the server-rendered dashboard. One self-contained HTML page (inline CSS and
//! SVG, no script, no external assets, so it works offline) with the crash-free chart,
//! a per-version summary and the top crash signatures per version. All report text is
//! escaped; a Content-Security-Policy forbids loading anything else.

use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

use crate::aggregate::{Series, VersionHealth, VersionsReport};
use crate::api::{self, WindowParams};
use crate::app::AppState;
use crate::chart;
use crate::error::ApiError;
use crate::html::{escape, percent};

const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// `GET /` (`?days=N` sets the window).
pub async fn page(
    State(st): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    q: Result<Query<WindowParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    crate::ingest::limit_client(&st, st.client_ip(peer, &headers), true).await?;
    let days = api::window_days(&st, q)?;
    let loaded = api::load(&st, days, true, None).await?;
    let mut resp = Html(render(&loaded.0, &loaded.1)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

fn change(v: &VersionHealth) -> String {
    match &v.previous {
        None => "–".into(),
        Some(p) => match p.session_rate_change {
            Some(d) => format!(
                "{}{:+.2} pp vs {}",
                if p.crashing_more { "▼ " } else { "" },
                d * 100.0,
                escape(&p.version)
            ),
            None => format!("vs {}", escape(&p.version)),
        },
    }
}

/// The whole page.
pub fn render(report: &VersionsReport, series: &[Series]) -> String {
    let mut s = String::with_capacity(16 * 1024);
    let days = report.window_days;
    let _ = write!(
        s,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Locus community health</title>
<style>
body{{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1100px}}
h1{{font-size:22px;margin:0 0 4px}} h2{{font-size:17px;margin:28px 0 8px}} h3{{font-size:15px;margin:18px 0 6px}}
p.note{{color:#555;font-size:13px;margin:4px 0}}
table{{border-collapse:collapse;font-size:13px;margin:4px 0 8px}}
th,td{{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}
th{{background:#f3f3f3}} td.num{{text-align:right;font-variant-numeric:tabular-nums}}
.worse{{color:#b00020}} code{{font-size:12px}}
</style></head><body>
<h1>Locus community health</h1>
<p class="note">Last {days} days (reports whose period ended since {since} UTC). Crash-free sessions = sessions without a crash ÷ sessions; crash-free devices = devices without a crashed session ÷ devices. Versions seen on fewer than {k} devices are withheld: {withheld} withheld. A crash's message template is shown only once {k} devices reported the same one.</p>
<h2>Crash-free sessions per version and day</h2>
"#,
        since = report.since.format("%Y-%m-%d %H:%M"),
        k = report.k,
        withheld = report.withheld_versions,
    );
    let last_day = report.generated_at.timestamp().div_euclid(86_400);
    let first_day = report.since.timestamp().div_euclid(86_400);
    s.push_str(&chart::render(series, first_day, last_day));

    s.push_str(
        "\n<h2>Versions</h2>\n<table id=\"versions\"><thead><tr><th>Version</th><th>Devices</th>\
         <th>Sessions</th><th>Crashed</th><th>Abnormal</th><th>Hangs per session</th>\
         <th>Crash-free sessions</th>\
         <th>Crash-free devices</th><th>Change</th></tr></thead><tbody>\n",
    );
    if report.versions.is_empty() {
        s.push_str("<tr><td colspan=\"9\">No version has enough devices to show.</td></tr>\n");
    }
    for v in &report.versions {
        let worse = v.previous.as_ref().is_some_and(|p| p.crashing_more);
        let _ = writeln!(
            s,
            "<tr data-version=\"{ver}\"><td>{ver}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td{}>{}</td></tr>",
            v.devices,
            v.sessions,
            v.crashed,
            v.abnormal,
            per_session(v.hangs_per_session),
            percent(v.crash_free_session_rate),
            percent(Some(v.crash_free_device_rate)),
            if worse { " class=\"worse\"" } else { "" },
            change(v),
            ver = escape(&v.version),
        );
    }
    s.push_str("</tbody></table>\n<h2>Top crash signatures</h2>\n");
    for v in &report.versions {
        let ver = escape(&v.version);
        let _ = writeln!(s, "<h3>{ver}</h3>");
        if v.top_crashes.is_empty() {
            s.push_str("<p class=\"note\">No crashes reported.</p>\n");
            continue;
        }
        let _ = writeln!(
            s,
            "<table class=\"signatures\" data-version=\"{ver}\"><thead><tr><th>Signature</th>\
             <th>Kind</th><th>Message</th><th>Location</th><th>Crashes</th><th>Devices</th>\
             </tr></thead><tbody>"
        );
        for c in &v.top_crashes {
            let message = match &c.message {
                Some(m) => escape(m),
                None => format!(
                    "<span class=\"note withheld\">withheld: fewer than {} devices \
                     reported the same message</span>",
                    report.k
                ),
            };
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td><code>{}</code></td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(&c.signature),
                escape(&c.kind),
                message,
                escape(&c.location),
                c.count,
                c.devices
            );
        }
        s.push_str("</tbody></table>\n");
    }
    let _ = write!(
        s,
        "<p class=\"note\">Generated {} UTC. JSON: <code>/v1/versions?days={days}</code>.</p>\n</body></html>\n",
        report.generated_at.format("%Y-%m-%d %H:%M:%S")
    );
    s
}

/// A per-session rate to two decimals, or a dash without sessions.
fn per_session(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"))
}

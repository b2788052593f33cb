//! Drawing the Debug screen: the list screen (header, status panel, records, footer),
//! a record's detail and the keys. Everything fits 80×24 and is recomputed from the
//! state on every draw, so a resize is just the next draw.

use super::facts::Tone;
use super::model::{detail_lines, match_ranges, row_text, App, PromptKind, Screen};
use locus_telemetry::{Level, Record};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

/// The keys, as `?` shows them.
pub const KEYS: &[(&str, &str)] = &[
    ("Up/Down", "select a record (scrolling up stops following)"),
    ("PgUp/PgDn", "a page up or down"),
    ("Home", "the oldest record"),
    ("End  f", "follow the newest record again"),
    ("Enter", "open the record: every field, a crash's backtrace"),
    ("Esc", "back from a record; clear the search"),
    (
        "l",
        "level filter: all, >=debug, >=info, >=warn, >=error, fatal",
    ),
    ("k", "kind filter: all, log, crash, metric, session, hang"),
    ("t", "target filter (log records whose target contains it)"),
    ("/", "search: matches are highlighted"),
    ("n  N", "older / newer match"),
    ("c", "clear filters and search"),
    ("s", "hide or show the status panel"),
    ("v", "verbosity: app records debug, trace (30 min), info"),
    ("?", "these keys"),
    ("q  Ctrl-C", "quit"),
];

const LABEL_WIDTH: usize = 10;

fn tone_style(t: Tone) -> Style {
    match t {
        Tone::Normal => Style::default(),
        Tone::Warn => Style::default().fg(Color::Yellow),
        Tone::Bad => Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
    }
}

fn level_style(l: Level) -> Style {
    match l {
        Level::Trace | Level::Debug => Style::default().fg(Color::DarkGray),
        Level::Info => Style::default(),
        Level::Warn => Style::default().fg(Color::Yellow),
        Level::Error | Level::Fatal => Style::default().fg(Color::Red),
    }
}

fn bar(text: String) -> Paragraph<'static> {
    Paragraph::new(Line::from(text)).style(Style::default().add_modifier(Modifier::REVERSED))
}

/// Draws the whole screen; returns the record list's height in rows (a page).
pub fn draw(frame: &mut Frame, app: &mut App, dir: &str) -> usize {
    let area = frame.area();
    match &mut app.screen {
        Screen::List => draw_list_screen(frame, app, dir, area),
        Screen::Detail { record, scroll } => draw_detail(frame, record, scroll, area),
        Screen::Help => draw_help(frame, area),
    }
}

fn draw_list_screen(frame: &mut Frame, app: &mut App, dir: &str, area: Rect) -> usize {
    let status: Vec<Line> = if app.show_status {
        app.facts
            .lines
            .iter()
            .map(|l| {
                Line::from(vec![
                    Span::styled(
                        format!("{:<LABEL_WIDTH$} ", l.label),
                        Style::default().add_modifier(Modifier::BOLD),
                    ),
                    Span::styled(l.text.clone(), tone_style(l.tone)),
                ])
            })
            .collect()
    } else {
        Vec::new()
    };
    // The status panel takes at most half the screen; the list gets the rest.
    let status_height = u16::try_from(status.len())
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(4) / 2);
    let [header, panel, title, list, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(status_height),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(area);

    let mode = if app.follow {
        "FOLLOWING".to_owned()
    } else {
        "PAUSED (End follows)".to_owned()
    };
    frame.render_widget(
        bar(format!(" Locus Debug · {dir} · {mode} · ? keys · q quit")),
        header,
    );
    frame.render_widget(Paragraph::new(status), panel);

    let shown = if app.filter.is_set() {
        format!("{} of {}", app.visible.len(), app.records.len())
    } else {
        app.records.len().to_string()
    };
    let title_text = format!(
        "── records ({}): {shown} · UTC, newest at the bottom ",
        app.filter.describe()
    );
    let width = usize::from(title.width);
    let fill = width.saturating_sub(title_text.chars().count());
    frame.render_widget(
        Paragraph::new(format!("{title_text}{}", "─".repeat(fill)))
            .style(Style::default().fg(Color::Cyan)),
        title,
    );

    let page = usize::from(list.height).max(1);
    draw_records(frame, app, list, page);

    let footer_line = footer_line(app);
    frame.render_widget(Paragraph::new(footer_line), footer);
    page
}

fn draw_records(frame: &mut Frame, app: &mut App, area: Rect, page: usize) {
    let message = if let Some(p) = &app.facts.dir_problem {
        Some(vec![
            Line::styled(p.clone(), tone_style(Tone::Bad)),
            Line::from(""),
            Line::from("Pass the app's data dir with --data-dir DIR (default ./locus-demo),"),
            Line::from("or start one: locus-diag demo --data-dir DIR. This screen keeps looking."),
        ])
    } else if let (Some(e), true) = (&app.facts.ring_error, app.records.is_empty()) {
        Some(vec![
            Line::styled("The flight recorder cannot be read:", tone_style(Tone::Bad)),
            Line::styled(e.clone(), tone_style(Tone::Bad)),
            Line::from(""),
            Line::from("This screen reads it again every moment; q quits."),
        ])
    } else if app.records.is_empty() {
        Some(vec![Line::from(
            "The flight recorder holds no readable records (a ring just created, or one \
             whose contents are damaged).",
        )])
    } else if app.visible.is_empty() {
        Some(vec![Line::from(
            "No record passes the filters (c clears them).",
        )])
    } else {
        None
    };
    if let Some(lines) = message {
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
        return;
    }
    let len = app.visible.len();
    if app.follow {
        app.offset = len.saturating_sub(page);
    } else {
        if app.selected < app.offset {
            app.offset = app.selected;
        }
        if app.selected >= app.offset + page {
            app.offset = app.selected + 1 - page;
        }
        app.offset = app.offset.min(len.saturating_sub(page));
    }
    let mut lines = Vec::with_capacity(page);
    for pos in app.offset..(app.offset + page).min(len) {
        let Some(r) = app.visible.get(pos).and_then(|&i| app.records.get(i)) else {
            continue;
        };
        let selected = !app.follow && pos == app.selected;
        lines.push(record_row(r, app.search.as_deref(), selected));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// One record's row, search matches highlighted, the selection reversed.
fn record_row(r: &Record, search: Option<&str>, selected: bool) -> Line<'static> {
    let text = row_text(r);
    let mut base = level_style(r.body.level());
    if selected {
        base = base.add_modifier(Modifier::REVERSED);
    }
    let hit = Style::default()
        .fg(Color::Black)
        .bg(Color::Yellow)
        .add_modifier(Modifier::BOLD);
    let mut spans = Vec::new();
    let mut at = 0;
    for range in search.map_or_else(Vec::new, |s| match_ranges(&text, s)) {
        if let (Some(before), Some(m)) = (text.get(at..range.start), text.get(range.clone())) {
            spans.push(Span::styled(before.to_owned(), base));
            spans.push(Span::styled(m.to_owned(), hit));
            at = range.end;
        }
    }
    spans.push(Span::styled(text.get(at..).unwrap_or("").to_owned(), base));
    Line::from(spans)
}

fn footer_line(app: &App) -> Line<'static> {
    if let Some(p) = &app.prompt {
        let what = match p.kind {
            PromptKind::Search => "/",
            PromptKind::Target => "target: ",
        };
        return Line::from(vec![
            Span::styled(
                what.to_owned(),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(p.text.clone()),
            Span::styled(" ", Style::default().add_modifier(Modifier::REVERSED)),
            Span::styled(
                "  Enter applies · Esc cancels",
                Style::default().fg(Color::DarkGray),
            ),
        ]);
    }
    if let Some(n) = &app.notice {
        return Line::styled(n.clone(), Style::default().fg(Color::Yellow));
    }
    if let Some(s) = &app.search {
        return Line::from(format!(
            "search \"{s}\": {} matches · n/N older/newer · Esc clears",
            app.matches
        ));
    }
    if let Some(e) = &app.facts.ring_error {
        if !app.records.is_empty() {
            return Line::styled(
                format!("last read failed, showing the one before: {e}"),
                tone_style(Tone::Warn),
            );
        }
    }
    Line::styled(
        "Enter detail · l level · k kind · t target · / search · c clear · ? keys",
        Style::default().fg(Color::DarkGray),
    )
}

/// `text` cut into rows of at most `width` characters (at least one row): the detail
/// wraps by hand so that it knows its height and scrolling stops at the end.
fn hard_wrap(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars
        .chunks(width.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

fn draw_detail(frame: &mut Frame, record: &Record, scroll: &mut u16, area: Rect) -> usize {
    let [header, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    frame.render_widget(
        bar(format!(
            " Record #{} · {} · Esc back · Up/Down PgUp/PgDn scroll · q quit",
            record.seq,
            record.body.kind()
        )),
        header,
    );
    let key_style = Style::default().add_modifier(Modifier::BOLD);
    let width = usize::from(body.width);
    let mut rows: Vec<Line> = Vec::new();
    let mut push = |text: String, style: Style| {
        for row in hard_wrap(&text, width) {
            rows.push(Line::styled(row, style));
        }
    };
    for (k, v) in detail_lines(record) {
        if v.contains('\n') {
            push(format!("{k}:"), key_style);
            for l in v.lines() {
                push(format!("  {l}"), Style::default());
            }
        } else {
            push(format!("{k:<12} {v}"), Style::default());
        }
    }
    push(String::new(), Style::default());
    push("as JSON (one line in the bucket):".into(), key_style);
    push(record.to_json_line(), Style::default());
    let max = rows.len().saturating_sub(usize::from(body.height));
    *scroll = (*scroll).min(u16::try_from(max).unwrap_or(u16::MAX));
    frame.render_widget(Paragraph::new(rows).scroll((*scroll, 0)), body);
    usize::from(body.height)
}

fn draw_help(frame: &mut Frame, area: Rect) -> usize {
    let [header, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    frame.render_widget(bar(" Keys · any key closes · q quits".into()), header);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("  {k:<11} "),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(
        "  Read-only: it re-reads the data dir's files and never disturbs the app.",
    ));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), body);
    usize::from(body.height)
}

//! The Debug screen's state and what each key does to it, without a terminal: the
//! records of the last read, the filters, the search, the selection (or following the
//! newest), and which screen is up. `view` draws it; `mod.rs` feeds it keys and reads.

use super::facts::Facts;
use chrono::SecondsFormat;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use locus_telemetry::record::{Body, CrashKind, HangPhase, SessionEvent};
use locus_telemetry::{Level, Record};

/// Which kinds of record the list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KindFilter {
    /// Every kind.
    #[default]
    All,
    /// Log lines.
    Log,
    /// Crash tombstones.
    Crash,
    /// Metric samples and histogram summaries.
    Metric,
    /// Session markers.
    Session,
    /// Hangs of watched loops.
    Hang,
}

impl KindFilter {
    /// The next filter in the cycle the `k` key walks.
    fn next(self) -> KindFilter {
        match self {
            KindFilter::All => KindFilter::Log,
            KindFilter::Log => KindFilter::Crash,
            KindFilter::Crash => KindFilter::Metric,
            KindFilter::Metric => KindFilter::Session,
            KindFilter::Session => KindFilter::Hang,
            KindFilter::Hang => KindFilter::All,
        }
    }

    /// Whether a record of `body` passes.
    fn matches(self, body: &Body) -> bool {
        match self {
            KindFilter::All => true,
            KindFilter::Log => matches!(body, Body::Log(_)),
            KindFilter::Crash => matches!(body, Body::Crash(_)),
            KindFilter::Metric => matches!(body, Body::Metric(_) | Body::Histogram(_)),
            KindFilter::Session => matches!(body, Body::Session(_)),
            KindFilter::Hang => matches!(body, Body::Hang(_)),
        }
    }

    /// The filter's name on screen.
    pub fn label(self) -> &'static str {
        match self {
            KindFilter::All => "all",
            KindFilter::Log => "log",
            KindFilter::Crash => "crash",
            KindFilter::Metric => "metric",
            KindFilter::Session => "session",
            KindFilter::Hang => "hang",
        }
    }
}

/// The list's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only records at this level or above (`None`: every level).
    pub min_level: Option<Level>,
    /// Only records of this kind.
    pub kind: KindFilter,
    /// Only log records whose target contains this text (case-insensitive).
    pub target: Option<String>,
}

impl Filter {
    /// Whether `r` passes every filter.
    fn matches(&self, r: &Record) -> bool {
        if self.min_level.is_some_and(|min| r.body.level() < min) {
            return false;
        }
        if !self.kind.matches(&r.body) {
            return false;
        }
        match (&self.target, &r.body) {
            (None, _) => true,
            (Some(t), Body::Log(l)) => contains_ignoring_case(&l.target, t),
            (Some(_), _) => false,
        }
    }

    /// Whether any filter is set.
    pub fn is_set(&self) -> bool {
        *self != Filter::default()
    }

    /// The filters in words, for the list's title.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(l) = self.min_level {
            parts.push(format!("level>={}", l.as_str()));
        }
        if self.kind != KindFilter::All {
            parts.push(format!("kind={}", self.kind.label()));
        }
        if let Some(t) = &self.target {
            parts.push(format!("target~{t}"));
        }
        if parts.is_empty() {
            "no filter".into()
        } else {
            parts.join(" ")
        }
    }
}

/// The next level in the cycle the `l` key walks: every level, then debug and above, …,
/// fatal only, then every level again.
fn next_level(l: Option<Level>) -> Option<Level> {
    match l {
        None => Some(Level::Debug),
        Some(Level::Trace) | Some(Level::Debug) => Some(Level::Info),
        Some(Level::Info) => Some(Level::Warn),
        Some(Level::Warn) => Some(Level::Error),
        Some(Level::Error) => Some(Level::Fatal),
        Some(Level::Fatal) => None,
    }
}

/// `needle` in `hay`, ASCII case ignored.
fn contains_ignoring_case(hay: &str, needle: &str) -> bool {
    hay.to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

/// Byte ranges of `needle` in `hay`, ASCII case ignored (lower-casing ASCII keeps byte
/// offsets, so the ranges index `hay` itself).
pub fn match_ranges(hay: &str, needle: &str) -> Vec<std::ops::Range<usize>> {
    if needle.is_empty() {
        return Vec::new();
    }
    let lower = hay.to_ascii_lowercase();
    lower
        .match_indices(&needle.to_ascii_lowercase())
        .map(|(at, m)| at..at + m.len())
        .collect()
}

/// A record as one list row: sequence number, UTC time of day, level and what it says.
pub fn row_text(r: &Record) -> String {
    let head = format!(
        "{:>7} {} {:<5}",
        r.seq,
        r.ts.format("%H:%M:%S%.3f"),
        r.body.level().as_str()
    );
    let rest = match &r.body {
        Body::Log(l) => {
            let mut s = format!("{}: {}", l.target, l.message);
            for (k, v) in &l.fields {
                s.push_str(&format!(" {k}={v}"));
            }
            s
        }
        Body::Crash(c) => format!(
            "CRASH {} in '{}' at {}: {}",
            crash_name(c.crash),
            c.thread,
            c.location,
            c.message
        ),
        Body::Metric(m) => format!("metric {} {} = {}", m.metric.as_str(), m.name, m.value),
        Body::Histogram(h) => format!(
            "histogram {} n={} mean={:.3} min={} max={}",
            h.name,
            h.count,
            h.sum / h.count.max(1) as f64,
            h.min,
            h.max
        ),
        Body::Session(s) => format!(
            "session {} {} (app {})",
            match s.event {
                SessionEvent::Start => "start",
                SessionEvent::CleanExit => "clean exit",
            },
            s.session_id,
            s.app_version
        ),
        Body::Hang(h) => match h.phase {
            HangPhase::Start => format!(
                "HANG start: loop '{}' silent {} ms (max gap {} ms)",
                h.loop_name, h.measured_ms, h.expected_gap_ms
            ),
            HangPhase::Stack => format!(
                "HANG stack of '{}' after {} ms: {}",
                h.loop_name,
                h.measured_ms,
                h.stack
                    .as_deref()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            ),
            HangPhase::End => format!(
                "HANG end: loop '{}' stalled {} ms (max gap {} ms)",
                h.loop_name, h.measured_ms, h.expected_gap_ms
            ),
        },
    };
    // One row is one line: a message with line breaks shows them as spaces; any other
    // control or bidi character is shown as an escape (`crate::term`, as every command
    // that prints records does).
    let row = format!("{head} {rest}").replace(['\n', '\r', '\t'], " ");
    crate::term::visible(&row).into_owned()
}

/// `panic` or `signal`.
fn crash_name(c: CrashKind) -> &'static str {
    match c {
        CrashKind::Panic => "panic",
        CrashKind::Signal => "signal",
        CrashKind::Exception => "exception",
    }
}

/// Every field of a record, one `name: value` line each (a backtrace keeps its lines).
pub fn detail_lines(r: &Record) -> Vec<(String, String)> {
    let mut out = vec![
        ("seq".to_owned(), r.seq.to_string()),
        (
            "time".to_owned(),
            r.ts.to_rfc3339_opts(SecondsFormat::Nanos, true),
        ),
        ("kind".to_owned(), r.body.kind().to_owned()),
        ("level".to_owned(), r.body.level().as_str().to_owned()),
    ];
    let mut add = |k: &str, v: String| out.push((k.to_owned(), v));
    match &r.body {
        Body::Log(l) => {
            add("target", l.target.clone());
            add("message", l.message.clone());
            for (k, v) in &l.fields {
                add(&format!("field {k}"), v.to_string());
            }
        }
        Body::Crash(c) => {
            add("crash", crash_name(c.crash).to_owned());
            add("message", c.message.clone());
            add("location", c.location.clone());
            add("thread", c.thread.clone());
            add("app version", c.app_version.clone());
            add("os", c.os.clone());
            add("uptime", format!("{} ms", c.uptime_ms));
            if let Some(sig) = c.signal {
                add("signal", sig.to_string());
            }
            add(
                "backtrace",
                if c.backtrace.is_empty() {
                    "(none taken)".into()
                } else {
                    c.backtrace.clone()
                },
            );
        }
        Body::Metric(m) => {
            add("name", m.name.clone());
            add("metric", m.metric.as_str().to_owned());
            add("value", m.value.to_string());
        }
        Body::Histogram(h) => {
            add("name", h.name.clone());
            add("count", h.count.to_string());
            add("sum", h.sum.to_string());
            add("min", h.min.to_string());
            add("max", h.max.to_string());
            add("mean", format!("{:.3}", h.sum / h.count.max(1) as f64));
        }
        Body::Session(s) => {
            add(
                "event",
                match s.event {
                    SessionEvent::Start => "start".into(),
                    SessionEvent::CleanExit => "clean exit".into(),
                },
            );
            add("session", s.session_id.clone());
            add("app version", s.app_version.clone());
        }
        Body::Hang(h) => {
            add("phase", h.phase.as_str().to_owned());
            add("loop", h.loop_name.clone());
            add("max gap", format!("{} ms", h.expected_gap_ms));
            add(
                match h.phase {
                    HangPhase::End => "stalled",
                    _ => "silent so far",
                },
                format!("{} ms", h.measured_ms),
            );
            if let Some(seq) = h.start_seq {
                add("start record", seq.to_string());
            }
            if let Some(stack) = &h.stack {
                add("stack", stack.clone());
            }
        }
    }
    // A backtrace keeps its lines; every other control or bidi character is shown as an
    // escape (`crate::term`).
    out.into_iter()
        .map(|(k, v)| {
            let k = crate::term::visible(&k).into_owned();
            let v = crate::term::visible_keeping_layout(&v).into_owned();
            (k, v)
        })
        .collect()
}

/// What a text prompt at the bottom is asking for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// `/`: text to search for.
    Search,
    /// `t`: a target to filter by.
    Target,
}

/// A text prompt being typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// What it is for.
    pub kind: PromptKind,
    /// What has been typed.
    pub text: String,
}

/// Which screen is up.
#[derive(Debug, Clone, PartialEq)]
pub enum Screen {
    /// The status panel and the record list.
    List,
    /// One record, every field (kept even if the ring overwrites it meanwhile).
    Detail {
        /// The record.
        record: Box<Record>,
        /// Lines scrolled past.
        scroll: u16,
    },
    /// The keys.
    Help,
}

/// The Debug screen's whole state.
#[derive(Debug)]
pub struct App {
    /// The records of the last good read, oldest first.
    pub records: Vec<Record>,
    /// Indices into `records` of those the filters let through.
    pub visible: Vec<usize>,
    /// The selected row, an index into `visible` (the newest while following).
    pub selected: usize,
    /// The first row drawn (kept by the view so the selection stays in sight).
    pub offset: usize,
    /// Whether the list follows the newest record.
    pub follow: bool,
    /// The filters.
    pub filter: Filter,
    /// The search text (matches are highlighted).
    pub search: Option<String>,
    /// Visible rows matching the search.
    pub matches: usize,
    /// A prompt being typed, if any.
    pub prompt: Option<Prompt>,
    /// Which screen is up.
    pub screen: Screen,
    /// Whether the status panel is shown.
    pub show_status: bool,
    /// What the data dir says besides the records.
    pub facts: Facts,
    /// A short message for the footer (e.g. "no match").
    pub notice: Option<String>,
    /// Set by `q`: the loop ends.
    pub quit: bool,
    /// Set by `v`: the level to ask the app for (the loop writes `verbosity.json`).
    pub verbosity_request: Option<Level>,
}

impl App {
    /// An empty screen over `facts`, following.
    pub fn new(facts: Facts) -> App {
        App {
            records: Vec::new(),
            visible: Vec::new(),
            selected: 0,
            offset: 0,
            follow: true,
            filter: Filter::default(),
            search: None,
            matches: 0,
            prompt: None,
            screen: Screen::List,
            show_status: true,
            facts,
            notice: None,
            quit: false,
            verbosity_request: None,
        }
    }

    /// The selected record, if any is visible.
    pub fn selected_record(&self) -> Option<&Record> {
        self.visible
            .get(self.selected)
            .and_then(|&i| self.records.get(i))
    }

    /// Takes a new read of the ring. The selection stays on the same record (or the
    /// next one still there, if the ring overwrote it) unless the list follows.
    pub fn set_records(&mut self, records: Vec<Record>) {
        let same = records.len() == self.records.len()
            && records.first().map(|r| r.seq) == self.records.first().map(|r| r.seq)
            && records.last().map(|r| r.seq) == self.records.last().map(|r| r.seq);
        if same {
            return;
        }
        let keep = self.selected_record().map(|r| r.seq);
        self.records = records;
        self.refilter(keep);
    }

    /// Recomputes the visible rows, keeping the selection on `keep` (a seq) if given.
    fn refilter(&mut self, keep: Option<u64>) {
        self.visible = self
            .records
            .iter()
            .enumerate()
            .filter(|(_, r)| self.filter.matches(r))
            .map(|(i, _)| i)
            .collect();
        if self.follow {
            self.selected = self.visible.len().saturating_sub(1);
        } else if let Some(seq) = keep {
            let records = &self.records;
            self.selected = self
                .visible
                .partition_point(|&i| records.get(i).is_some_and(|r| r.seq < seq))
                .min(self.visible.len().saturating_sub(1));
        } else {
            self.selected = self.selected.min(self.visible.len().saturating_sub(1));
        }
        self.count_matches();
    }

    fn count_matches(&mut self) {
        self.matches = match &self.search {
            Some(s) => self
                .visible
                .iter()
                .filter_map(|&i| self.records.get(i))
                .filter(|r| contains_ignoring_case(&row_text(r), s))
                .count(),
            None => 0,
        };
    }

    /// Filters changed: the selection stays on the same record where it can.
    fn filters_changed(&mut self) {
        let keep = self.selected_record().map(|r| r.seq);
        self.refilter(keep);
    }

    /// Moves the selection by `delta` rows; moving stops following, reaching the newest
    /// row going down resumes it.
    fn move_by(&mut self, delta: isize) {
        let last = self.visible.len().saturating_sub(1);
        let to = self.selected.saturating_add_signed(delta).min(last);
        self.selected = to;
        self.follow = delta > 0 && to == last;
    }

    fn follow_newest(&mut self) {
        self.follow = true;
        self.selected = self.visible.len().saturating_sub(1);
    }

    /// Selects the next matching row older (`older`) or newer than the selection.
    fn jump_to_match(&mut self, older: bool) {
        let Some(needle) = self.search.clone() else {
            self.notice = Some("no search: press / first".into());
            return;
        };
        let is_match = |pos: usize| {
            self.visible
                .get(pos)
                .and_then(|&i| self.records.get(i))
                .is_some_and(|r| contains_ignoring_case(&row_text(r), &needle))
        };
        let found = if older {
            (0..self.selected).rev().find(|&p| is_match(p))
        } else {
            (self.selected + 1..self.visible.len()).find(|&p| is_match(p))
        };
        match found {
            Some(p) => {
                self.selected = p;
                self.follow = false;
            }
            None => {
                self.notice = Some(format!(
                    "no {} match for \"{needle}\"",
                    if older { "older" } else { "newer" }
                ))
            }
        }
    }

    /// Handles one key press; `page` is the list's height in rows.
    pub fn on_key(&mut self, key: KeyEvent, page: usize) {
        self.notice = None;
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.prompt.is_some() {
            self.on_prompt_key(key);
            return;
        }
        match &mut self.screen {
            Screen::Help => match key.code {
                KeyCode::Char('q') => self.quit = true,
                _ => self.screen = Screen::List,
            },
            Screen::Detail { scroll, .. } => match key.code {
                KeyCode::Char('q') => self.quit = true,
                KeyCode::Esc | KeyCode::Enter | KeyCode::Backspace | KeyCode::Left => {
                    self.screen = Screen::List
                }
                KeyCode::Up => *scroll = scroll.saturating_sub(1),
                KeyCode::Down => *scroll = scroll.saturating_add(1),
                KeyCode::PageUp => *scroll = scroll.saturating_sub(page_u16(page)),
                KeyCode::PageDown | KeyCode::Char(' ') => {
                    *scroll = scroll.saturating_add(page_u16(page))
                }
                KeyCode::Home => *scroll = 0,
                KeyCode::Char('?') => self.screen = Screen::Help,
                _ => {}
            },
            Screen::List => self.on_list_key(key, page),
        }
    }

    fn on_list_key(&mut self, key: KeyEvent, page: usize) {
        let page = page.max(1) as isize;
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.screen = Screen::Help,
            KeyCode::Up => self.move_by(-1),
            KeyCode::Down => self.move_by(1),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::Home => {
                self.selected = 0;
                self.follow = false;
            }
            KeyCode::End | KeyCode::Char('f') => self.follow_newest(),
            KeyCode::Enter => {
                if let Some(r) = self.selected_record() {
                    self.screen = Screen::Detail {
                        record: Box::new(r.clone()),
                        scroll: 0,
                    };
                } else {
                    self.notice = Some("no record to open".into());
                }
            }
            KeyCode::Char('l') => {
                self.filter.min_level = next_level(self.filter.min_level);
                self.filters_changed();
            }
            KeyCode::Char('k') => {
                self.filter.kind = self.filter.kind.next();
                self.filters_changed();
            }
            KeyCode::Char('t') => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Target,
                    text: self.filter.target.clone().unwrap_or_default(),
                })
            }
            KeyCode::Char('/') => {
                self.prompt = Some(Prompt {
                    kind: PromptKind::Search,
                    text: String::new(),
                })
            }
            KeyCode::Char('n') => self.jump_to_match(true),
            KeyCode::Char('N') => self.jump_to_match(false),
            KeyCode::Char('c') => {
                self.filter = Filter::default();
                self.search = None;
                self.filters_changed();
            }
            KeyCode::Esc if self.search.is_some() => {
                self.search = None;
                self.count_matches();
            }
            KeyCode::Char('s') => self.show_status = !self.show_status,
            KeyCode::Char('v') => {
                // info -> debug -> trace -> info, each raise for the default 30 minutes.
                self.verbosity_request = Some(match self.facts.verbosity {
                    Some(Level::Debug) => Level::Trace,
                    Some(Level::Trace) => Level::Info,
                    _ => Level::Debug,
                });
            }
            _ => {}
        }
    }

    fn on_prompt_key(&mut self, key: KeyEvent) {
        let Some(prompt) = &mut self.prompt else {
            return;
        };
        match key.code {
            KeyCode::Esc => self.prompt = None,
            KeyCode::Backspace => {
                prompt.text.pop();
            }
            KeyCode::Char(c) => prompt.text.push(c),
            KeyCode::Enter => {
                let kind = prompt.kind;
                let text = prompt.text.trim().to_owned();
                self.prompt = None;
                let value = (!text.is_empty()).then_some(text);
                match kind {
                    PromptKind::Search => {
                        self.search = value;
                        self.count_matches();
                        if let Some(s) = &self.search {
                            if self.matches == 0 {
                                self.notice = Some(format!("no match for \"{s}\""));
                            }
                        }
                    }
                    PromptKind::Target => {
                        self.filter.target = value;
                        self.filters_changed();
                    }
                }
            }
            _ => {}
        }
    }
}

fn page_u16(page: usize) -> u16 {
    u16::try_from(page.max(1)).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_telemetry::record::LogRecord;

    fn log(seq: u64, level: Level, target: &str, message: &str) -> Record {
        Record::new(
            seq,
            1_790_000_000_000_000_000 + seq as i64 * 1_000_000,
            Body::Log(LogRecord {
                level,
                target: target.into(),
                message: message.into(),
                fields: vec![],
            }),
        )
    }

    fn press(app: &mut App, code: KeyCode) {
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE), 10);
    }

    fn app_with(n: u64) -> App {
        let mut app = App::new(Facts::default());
        app.set_records(
            (1..=n)
                .map(|s| {
                    let level = if s % 10 == 0 {
                        Level::Warn
                    } else {
                        Level::Info
                    };
                    log(s, level, if s % 2 == 0 { "a::b" } else { "c" }, "m")
                })
                .collect(),
        );
        app
    }

    #[test]
    fn v_asks_for_the_next_verbosity_in_turn() {
        let mut app = app_with(3);
        for (now, next) in [
            (None, Level::Debug),
            (Some(Level::Info), Level::Debug),
            (Some(Level::Debug), Level::Trace),
            (Some(Level::Trace), Level::Info),
        ] {
            app.facts.verbosity = now;
            press(&mut app, KeyCode::Char('v'));
            assert_eq!(app.verbosity_request.take(), Some(next));
        }
    }

    #[test]
    fn follows_until_scrolled_up_and_keeps_the_selection_across_reads() {
        let mut app = app_with(50);
        assert_eq!(app.selected_record().unwrap().seq, 50);
        press(&mut app, KeyCode::Up);
        assert!(!app.follow);
        assert_eq!(app.selected_record().unwrap().seq, 49);
        // The ring moved on: 10 overwritten, 10 new.
        app.set_records((11..=60).map(|s| log(s, Level::Info, "c", "m")).collect());
        assert_eq!(app.selected_record().unwrap().seq, 49);
        press(&mut app, KeyCode::End);
        assert!(app.follow);
        assert_eq!(app.selected_record().unwrap().seq, 60);
        app.set_records((11..=70).map(|s| log(s, Level::Info, "c", "m")).collect());
        assert_eq!(app.selected_record().unwrap().seq, 70);
    }

    #[test]
    fn level_kind_and_target_filters() {
        let mut app = app_with(50);
        for _ in 0..3 {
            press(&mut app, KeyCode::Char('l'));
        }
        assert_eq!(app.filter.min_level, Some(Level::Warn));
        assert_eq!(app.visible.len(), 5);
        press(&mut app, KeyCode::Char('c'));
        assert_eq!(app.visible.len(), 50);
        press(&mut app, KeyCode::Char('t'));
        for ch in "A::".chars() {
            press(&mut app, KeyCode::Char(ch));
        }
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.visible.len(), 25);
        press(&mut app, KeyCode::Char('k'));
        press(&mut app, KeyCode::Char('k'));
        assert_eq!(app.filter.kind, KindFilter::Crash);
        assert!(app.visible.is_empty());
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.screen, Screen::List, "nothing to open");
    }

    #[test]
    fn search_counts_and_jumps() {
        let mut app = app_with(30);
        press(&mut app, KeyCode::Char('/'));
        for ch in "WARN".chars() {
            press(&mut app, KeyCode::Char(ch));
        }
        press(&mut app, KeyCode::Enter);
        assert_eq!(app.matches, 3);
        press(&mut app, KeyCode::Char('n'));
        assert_eq!(app.selected_record().unwrap().seq, 20);
        press(&mut app, KeyCode::Char('n'));
        assert_eq!(app.selected_record().unwrap().seq, 10);
        press(&mut app, KeyCode::Char('n'));
        assert!(app.notice.is_some());
        press(&mut app, KeyCode::Char('N'));
        assert_eq!(app.selected_record().unwrap().seq, 20);
        assert_eq!(match_ranges("a Warn b warn", "warn"), vec![2..6, 9..13]);
    }

    #[test]
    fn enter_opens_the_detail_and_escape_closes_it() {
        let mut app = app_with(3);
        press(&mut app, KeyCode::Enter);
        assert!(matches!(&app.screen, Screen::Detail { record, .. } if record.seq == 3));
        press(&mut app, KeyCode::Esc);
        assert_eq!(app.screen, Screen::List);
        press(&mut app, KeyCode::Char('?'));
        assert_eq!(app.screen, Screen::Help);
        press(&mut app, KeyCode::Char('q'));
        assert!(app.quit);
    }
}

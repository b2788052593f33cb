//! The rule engine: one [`Rule`] is a compiled pattern plus what to do with a match
//! (replace it whole, replace one group, or let a check decide from the match and its
//! surroundings). The engine walks the matches left to right, never overlapping, and
//! is shared by `scrub` (which applies the edits) and `find_pii` (which stops at the
//! first one), so the two can never disagree.

use std::borrow::Cow;

use regex::{Captures, Regex, RegexBuilder};

use crate::PiiKind;

/// One replacement inside the text a rule is run on.
pub(crate) struct Edit {
    pub start: usize,
    pub end: usize,
    pub text: Cow<'static, str>,
}

impl Edit {
    pub fn new(start: usize, end: usize, text: impl Into<Cow<'static, str>>) -> Self {
        Edit {
            start,
            end,
            text: text.into(),
        }
    }
}

/// What a check decided about one match.
pub(crate) enum Verdict {
    /// Replace this part of the text.
    Edit(Edit),
    /// Not a finding; look for the next match from this byte offset on (it is clamped so
    /// that the search always moves forward).
    Resume(usize),
    /// Not a finding; look again one character after the start of the match (a shorter,
    /// later match may still be valid).
    Retry,
}

pub(crate) type Check = Box<dyn Fn(&str, &Captures<'_>) -> Verdict + Send + Sync>;

/// What to do with a match.
pub(crate) enum Fix {
    /// Replace the whole match with this placeholder.
    Whole(&'static str),
    /// Decide from the match and the text around it.
    Check(Check),
}

/// A named, compiled pattern with its fix and the kind of data it finds.
pub(crate) struct Rule {
    pub name: &'static str,
    pub kind: PiiKind,
    pub re: Regex,
    pub fix: Fix,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?}): {}", self.name, self.kind, self.re.as_str())
    }
}

impl Rule {
    pub fn whole(
        name: &'static str,
        kind: PiiKind,
        pattern: &str,
        placeholder: &'static str,
    ) -> Self {
        Rule {
            name,
            kind,
            re: compile(pattern),
            fix: Fix::Whole(placeholder),
        }
    }

    pub fn check(
        name: &'static str,
        kind: PiiKind,
        pattern: &str,
        check: impl Fn(&str, &Captures<'_>) -> Verdict + Send + Sync + 'static,
    ) -> Self {
        Rule {
            name,
            kind,
            re: compile(pattern),
            fix: Fix::Check(Box::new(check)),
        }
    }

    /// Calls `f` with every edit this rule makes in `hay`, left to right and never
    /// overlapping, until `f` returns `false`. Edits that would not change the text
    /// (a placeholder replaced by itself) are not reported.
    pub fn for_each_edit(&self, hay: &str, mut f: impl FnMut(Edit) -> bool) {
        let mut pos = 0;
        let mut floor = 0;
        while pos <= hay.len() {
            let (m_start, m_end, verdict) = match &self.fix {
                Fix::Whole(p) => match self.re.find_at(hay, pos) {
                    Some(m) => (
                        m.start(),
                        m.end(),
                        Verdict::Edit(Edit::new(m.start(), m.end(), *p)),
                    ),
                    None => return,
                },
                Fix::Check(check) => match self.re.captures_at(hay, pos) {
                    Some(caps) => {
                        let m = caps.get(0).map_or((pos, pos), |m| (m.start(), m.end()));
                        (m.0, m.1, check(hay, &caps))
                    }
                    None => return,
                },
            };
            let after_start = next_boundary(hay, m_start);
            match verdict {
                Verdict::Edit(e) => {
                    let sound = e.start >= floor
                        && e.start < e.end
                        && hay.get(e.start..e.end).is_some_and(|old| old != e.text);
                    if sound {
                        floor = e.end;
                        pos = e.end.max(after_start);
                        if !f(e) {
                            return;
                        }
                    } else {
                        pos = m_end.max(after_start);
                    }
                }
                Verdict::Resume(at) => pos = at.max(after_start),
                Verdict::Retry => pos = after_start,
            }
        }
    }

    /// Applies every edit of this rule; `None` when nothing changed.
    pub fn apply(&self, hay: &str) -> Option<String> {
        let mut out: Option<String> = None;
        let mut last = 0;
        self.for_each_edit(hay, |e| {
            let o = out.get_or_insert_with(|| String::with_capacity(hay.len() + 16));
            o.push_str(&hay[last..e.start]);
            o.push_str(&e.text);
            last = e.end;
            true
        });
        let mut o = out?;
        o.push_str(&hay[last..]);
        Some(o)
    }

    /// Whether this rule would change `hay`.
    pub fn finds(&self, hay: &str) -> bool {
        let mut found = false;
        self.for_each_edit(hay, |_| {
            found = true;
            false
        });
        found
    }
}

/// The byte offset of the character after the one starting at `i` (or `len + 1` at the
/// end, which stops the search loop).
fn next_boundary(hay: &str, i: usize) -> usize {
    match hay.get(i..).and_then(|s| s.chars().next()) {
        Some(c) => i + c.len_utf8(),
        None => hay.len() + 1,
    }
}

/// Compiles a constant pattern. `\b` is rewritten to the ASCII word boundary
/// `(?-u:\b)`: the Unicode one makes the fast DFA give up on non-ASCII text, and for
/// log lines the ASCII notion of a word is the useful one.
pub(crate) fn compile(pattern: &str) -> Regex {
    RegexBuilder::new(&ascii_boundaries(pattern))
        .size_limit(64 << 20)
        .dfa_size_limit(8 << 20)
        .build()
        .unwrap_or_else(|e| panic!("built-in pattern does not compile: {e}"))
}

fn ascii_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 32);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('b') => out.push_str(r"(?-u:\b)"),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_rewritten_but_escapes_kept() {
        assert_eq!(ascii_boundaries(r"\bx\\b\d"), r"(?-u:\b)x\\b\d");
    }

    #[test]
    fn edits_that_change_nothing_are_not_findings() {
        let r = Rule::whole("t", PiiKind::Personal, "<x>|y", "<x>");
        assert!(!r.finds("a <x> b"));
        assert_eq!(r.apply("y <x>").as_deref(), Some("<x> <x>"));
    }
}

//! Message templates: what a crash's message becomes before it may leave the device for
//! the community. The filter (`crate::scrub_terms`) removes what it recognises;
//! a filter has gaps, so the template keeps only what is *known to be safe* and turns
//! everything else into a typed placeholder. The community report carries the template,
//! never the message.
//!
//! The rules, applied to the filter's output:
//!
//! 1. Whitespace is collapsed to single spaces and trimmed.
//! 2. Each whitespace-separated chunk loses its surrounding punctuation (kept verbatim)
//!    and its core is looked at whole:
//!    - it holds `://` → `<url>`;
//!    - it is a path (starts with `/`, `\`, `~`, `./`, `../` or a drive `C:`, or holds
//!      at least two `/` or `\`) → `<path>`;
//!    - it is a file name (a stem, a dot and a known extension such as `gpx`, `json`,
//!      `rs`, optionally followed by `:line[:col]`) → `<file>`.
//! 3. Otherwise the core is read token by token:
//!    - a placeholder the filter put there (`<location>`, `<name>` … see
//!      [`crate::PLACEHOLDERS`]) or one of ours ([`PLACEHOLDERS`]) stays;
//!    - ASCII punctuation stays;
//!    - a number (digits, with `.` or `,` decimals) → `<num>`, a unit after it stays
//!      when it is a known word (`250ms` → `<num>ms`);
//!    - `0x…` and runs of at least 8 hex digits holding a digit → `<hex>`;
//!    - a word or identifier stays when it is in the vocabulary (case-insensitively),
//!      or when every part of it is (parts: split at `_`, at camel-case humps, so
//!      `NullPointerException` and `unwrap_or_default` stay); anything else, including
//!      any part with a digit or a non-ASCII letter, → `<word>`;
//!    - any other character (symbols, emoji, control characters) → `<sym>`.
//! 4. The result is cut to at most `max` bytes, never inside a placeholder.
//!
//! The vocabulary (`vocabulary.txt`, embedded, one lowercase ASCII word per line, sorted)
//! holds the words of Rust, Kotlin and Java standard panic and exception messages, common
//! English function words and verbs, and the demo app's domain words. Words that are
//! also common given names (`max`, `mark`, `rose` …) are left out on purpose; the modal
//! verbs `will`, `may` and `don` (`don't`) are in. Besides it, the words of the crash's
//! own source location (`src/sync/upload.rs` → `sync`, `upload`) are known for that
//! crash — only from a location that starts at `src/`, never from a user's path.
//!
//! Templates are idempotent (a template's template is itself), so a template stored by
//! an older build is safely templated again.
//!
//! ```text
//! called `Option::unwrap()` on a `None` value  → unchanged
//! cannot open Anna_Schmidt_Lauf.gpx           → cannot open <file>
//! index out of bounds: the len is 3 but the index is 7
//!                                             → index out of bounds: the len is <num> but the index is <num>
//! ```

use std::sync::OnceLock;

/// The placeholders a template may contain besides the filter's own.
pub const PLACEHOLDERS: &[&str] = &[
    "<num>", "<hex>", "<word>", "<path>", "<file>", "<url>", "<sym>",
];

/// The vocabulary known to be safe: sorted, lowercase, one word per line.
const VOCABULARY: &str = include_str!("vocabulary.txt");

/// File extensions that make a dotted chunk a file name.
const FILE_EXTENSIONS: &[&str] = &[
    "apk", "bak", "bin", "csv", "dat", "db", "dex", "fit", "geojson", "gif", "gpx", "gz", "heic",
    "html", "jar", "java", "jpeg", "jpg", "json", "kml", "kmz", "kt", "lock", "log", "mov", "mp3",
    "mp4", "pb", "pdf", "png", "rs", "so", "sqlite", "sqlite3", "tcx", "tmp", "toml", "txt", "wal",
    "webp", "xml", "yaml", "yml", "zip",
];

fn vocabulary() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut w: Vec<&str> = VOCABULARY
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        // The file is kept sorted (tested); sorting again costs nothing and keeps the
        // binary search right even if it is not.
        w.sort_unstable();
        w.dedup();
        w
    })
}

/// Whether `word` is in the vocabulary (case-insensitively).
pub fn is_known(word: &str) -> bool {
    known(word, &[])
}

/// Whether `word` is in the vocabulary or among `own` words (case-insensitively).
fn known(word: &str, own: &[String]) -> bool {
    if word.is_empty() || !word.is_ascii() {
        return false;
    }
    let lower = word.to_ascii_lowercase();
    vocabulary().binary_search(&lower.as_str()).is_ok() || own.contains(&lower)
}

/// The identifier words of a source location (`src/sync/upload_queue.rs:42` →
/// `sync`, `upload`, `queue`), lowercase: known words for that crash's template. Only a
/// location that starts at `src/` gives any (a location outside `src/` could be a user's
/// path).
pub fn source_words(location: &str) -> Vec<String> {
    let Some(rest) = location.strip_prefix("src/") else {
        return Vec::new();
    };
    let mut words: Vec<String> = rest
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 2)
        .map(str::to_ascii_lowercase)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// The template of `scrubbed` (a message the filter has already been over): see the
/// module's rules. `own`: words known for this message besides the vocabulary
/// (lowercase, from [`source_words`]). At most `max` bytes.
pub fn template(scrubbed: &str, own: &[String], max: usize) -> String {
    let mut out = String::new();
    for chunk in scrubbed.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        push_chunk(chunk, own, &mut out);
        if out.len() > max {
            break;
        }
    }
    fixed_point(cut(out, max), own)
}

/// Whether `message` is a template as [`template`] makes them, with the words of the
/// crash's `location` known (as on the device): a template is its own template. A
/// message with words outside the vocabulary, digits, URLs, paths, file names, symbols
/// or control characters is not one (unless the placeholders stand in their place).
///
/// ```
/// use locus_privacy::template::is_template;
/// assert!(is_template("cannot open <file>", "src/track.rs:42"));
/// assert!(!is_template("visit https://evil.example/fix to repair your tracks", "src/a.rs:1"));
/// assert!(!is_template("cannot open Anna.gpx", "src/track.rs:42"));
/// ```
pub fn is_template(message: &str, location: &str) -> bool {
    let own = source_words(location);
    // The longest template a device writes is far below this; a longer text is refused
    // by the report's own limits anyway.
    template(message, &own, message.len().max(1)) == message
}

/// A cut can end a template inside a word (`unexpect`), which would not be a template
/// of itself: shorten at the last space until the text is its own template, so what a
/// device sends always passes [`is_template`].
fn fixed_point(mut t: String, own: &[String]) -> String {
    loop {
        let mut again = String::new();
        for chunk in t.split(' ') {
            if !again.is_empty() {
                again.push(' ');
            }
            push_chunk(chunk, own, &mut again);
        }
        if again == t {
            return t;
        }
        match t.rfind(' ') {
            Some(at) => t.truncate(at),
            None => return String::new(),
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, never inside a placeholder.
fn cut(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    let head = &s[..at];
    if let Some(open) = head.rfind('<') {
        if !head[open..].contains('>') && placeholder_at(&s[open..]).is_some() {
            at = open;
        }
    }
    s.truncate(at);
    s.truncate(s.trim_end().len());
    s
}

/// Punctuation a chunk may be wrapped in (kept verbatim around its core).
fn is_wrapper(c: char) -> bool {
    matches!(
        c,
        '`' | '\'' | '"' | '(' | ')' | '[' | ']' | '{' | '}' | ',' | ';' | ':' | '.' | '!' | '?'
    )
}

/// A chunk cut into its leading wrapper punctuation, its core and its trailing wrapper
/// punctuation (the redactor cuts its chunks the same way).
pub(crate) fn split_wrappers(chunk: &str) -> (&str, &str, &str) {
    let core_start = chunk
        .char_indices()
        .find(|&(_, c)| !is_wrapper(c))
        .map_or(chunk.len(), |(i, _)| i);
    let core_end = chunk[core_start..]
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_wrapper(c))
        .map_or(core_start, |(i, c)| core_start + i + c.len_utf8());
    (
        &chunk[..core_start],
        &chunk[core_start..core_end],
        &chunk[core_end..],
    )
}

fn push_chunk(chunk: &str, own: &[String], out: &mut String) {
    let (prefix, core, suffix) = split_wrappers(chunk);
    push_tokens(prefix, own, out);
    if core.contains("://") {
        out.push_str("<url>");
    } else if is_path(core) {
        out.push_str("<path>");
    } else if is_file(core) {
        out.push_str("<file>");
    } else {
        push_tokens(core, own, out);
    }
    push_tokens(suffix, own, out);
}

fn is_path(core: &str) -> bool {
    let b = core.as_bytes();
    let seps = core.bytes().filter(|&c| c == b'/' || c == b'\\').count();
    if seps == 0 {
        return false;
    }
    let drive = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
    matches!(b[0], b'/' | b'\\' | b'~')
        || core.starts_with("./")
        || core.starts_with("../")
        || drive
        || seps >= 2
}

fn is_file(core: &str) -> bool {
    // An optional `:line[:col]` suffix.
    let mut name = core;
    for _ in 0..2 {
        if let Some((head, tail)) = name.rsplit_once(':') {
            if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
                name = head;
            }
        }
    }
    let Some((stem, ext)) = name.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && !stem.ends_with('.')
        && FILE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
}

/// The placeholder (ours or the filter's) that `s` starts with.
fn placeholder_at(s: &str) -> Option<&'static str> {
    if !s.starts_with('<') {
        return None;
    }
    PLACEHOLDERS
        .iter()
        .chain(crate::PLACEHOLDERS.iter())
        .find(|p| s.starts_with(**p))
        .copied()
}

fn push_tokens(text: &str, own: &[String], out: &mut String) {
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(p) = placeholder_at(rest) {
            out.push_str(p);
            rest = &rest[p.len()..];
        } else if c.is_alphanumeric() || c == '_' {
            let end = word_end(rest);
            push_word(&rest[..end], own, out);
            rest = &rest[end..];
        } else {
            if c.is_ascii_punctuation() {
                out.push(c);
            } else if !out.ends_with("<sym>") {
                out.push_str("<sym>");
            }
            rest = &rest[c.len_utf8()..];
        }
    }
}

/// End of the word at the start of `s`: a run of letters, digits and `_`; a number's
/// decimals (`12.5`, `52,49`) belong to it.
fn word_end(s: &str) -> usize {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut end = s.find(|c: char| !is_word(c)).unwrap_or(s.len());
    loop {
        let word = &s[..end];
        let after = &s[end..];
        let digits_so_far = word
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',');
        let mut next = after.chars();
        match (next.next(), next.next()) {
            (Some('.' | ','), Some(d)) if digits_so_far && d.is_ascii_digit() => {
                let more = &after[1..];
                end += 1 + more.find(|c: char| !is_word(c)).unwrap_or(more.len());
            }
            _ => return end,
        }
    }
}

fn is_hex_run(w: &str) -> bool {
    w.len() >= 8
        && w.bytes().all(|b| b.is_ascii_hexdigit())
        && w.bytes().any(|b| b.is_ascii_digit())
}

fn push_word(w: &str, own: &[String], out: &mut String) {
    let starts_with_digit = w.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if starts_with_digit {
        if let Some(hex) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
            if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.push_str("<hex>");
                return;
            }
        }
        if is_hex_run(w) {
            out.push_str("<hex>");
            return;
        }
        let unit_at = w
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .unwrap_or(w.len());
        let unit = &w[unit_at..];
        if unit.is_empty() {
            out.push_str("<num>");
        } else if known(unit, own) {
            out.push_str("<num>");
            out.push_str(unit);
        } else {
            out.push_str("<word>");
        }
        return;
    }
    if is_hex_run(w) {
        out.push_str("<hex>");
    } else if known(w, own) || identifier_known(w, own) {
        out.push_str(w);
    } else {
        out.push_str("<word>");
    }
}

/// Whether every part of an identifier is known: split at `_` and at camel-case humps
/// (`IOException` → `IO`, `Exception`). A part with a digit is not known.
fn identifier_known(w: &str, own: &[String]) -> bool {
    let mut any = false;
    for segment in w.split('_').filter(|s| !s.is_empty()) {
        if known(segment, own) {
            any = true;
            continue;
        }
        for part in camel_parts(segment) {
            if !known(part, own) {
                return false;
            }
            any = true;
        }
    }
    any
}

/// `NullPointerException` → `Null`, `Pointer`, `Exception`; `HTTPError` → `HTTP`,
/// `Error`; `getX2` → `get`, `X2`.
fn camel_parts(s: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = s.char_indices().collect();
    let mut parts = Vec::new();
    let mut start = 0;
    for k in 1..chars.len() {
        let (i, c) = chars[k];
        let prev = chars[k - 1].1;
        let next = chars.get(k + 1).map(|&(_, n)| n);
        let hump = c.is_uppercase()
            && (prev.is_lowercase()
                || (prev.is_uppercase() && next.is_some_and(char::is_lowercase)));
        if hump {
            parts.push(&s[start..i]);
            start = i;
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> String {
        template(&crate::scrub(s), &[], 200)
    }

    #[test]
    fn the_vocabulary_file_is_sorted_lowercase_ascii_one_word_a_line() {
        let lines: Vec<&str> = VOCABULARY.lines().collect();
        assert!(lines.len() > 1000, "{}", lines.len());
        for w in &lines {
            assert!(
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "bad line {w:?}"
            );
        }
        assert!(
            lines.windows(2).all(|p| p[0] < p[1]),
            "sorted, no duplicates"
        );
    }

    #[test]
    fn common_given_names_are_not_in_the_vocabulary() {
        for name in [
            "anna", "alice", "bob", "max", "mark", "rose", "bill", "grace", "hope", "joy", "june",
            "april", "jack", "frank", "ben", "emma", "lena", "paul", "schmidt", "mueller", "smith",
        ] {
            assert!(!known(name, &[]), "{name}");
        }
    }

    #[test]
    fn standard_panic_and_exception_messages_survive_whole() {
        for m in [
            "called `Option::unwrap()` on a `None` value",
            "attempt to subtract with overflow",
            "already borrowed: BorrowMutError",
            "java.lang.NullPointerException: Attempt to invoke virtual method on a null object reference",
            "kotlin.UninitializedPropertyAccessException: lateinit property track has not been initialized",
            "java.lang.IllegalStateException: Fragment not attached to a context.",
            "sync queue unexpectedly empty",
            "SIGSEGV (invalid memory access)",
        ] {
            assert_eq!(t(m), m);
        }
    }

    #[test]
    fn numbers_hex_and_units_become_placeholders() {
        assert_eq!(
            t("index out of bounds: the len is 3 but the index is 7"),
            "index out of bounds: the len is <num> but the index is <num>"
        );
        assert_eq!(t("timed out after 250ms"), "timed out after <num>ms");
        assert_eq!(t("read 12.5 kb"), "read <num> kb");
        assert_eq!(t("bad pointer 0x7ffd3a2b"), "bad pointer <hex>");
        assert_eq!(t("object deadbeef42 is gone"), "object <hex> is gone");
    }

    #[test]
    fn names_files_paths_and_urls_become_placeholders() {
        assert_eq!(t("cannot open Anna_Schmidt_Lauf.gpx"), "cannot open <file>");
        assert_eq!(t("cannot open 'Lauf.gpx':"), "cannot open '<file>':");
        assert_eq!(
            t("failed to read /storage/emulated/0/Download/run.gpx"),
            "failed to read <path>"
        );
        assert_eq!(t("open tracks\\Anna\\x failed"), "open <path> failed");
        assert_eq!(
            t("GET https://tiles.example.org/a failed"),
            "GET <url> failed"
        );
        assert_eq!(t("uploading Kowalczyk track"), "uploading <word> track");
        assert_eq!(t("AnnaSchmidtException thrown"), "<word> <word>");
        assert_eq!(t("Grüße from Zoë"), "<word> from <word>");
        assert_eq!(t("user42 left"), "<word> left");
    }

    #[test]
    fn the_filters_placeholders_stay_and_other_symbols_are_typed() {
        let m = "fix 52.520008, 13.404954 for bob@example.com";
        let tpl = t(m);
        assert!(
            tpl.contains("<location>") && tpl.contains("<email>"),
            "{tpl}"
        );
        assert_eq!(t("done ✓✓ now"), "done <sym> now");
        assert_eq!(t("Vec<u8> is empty"), "Vec<u8> is empty");
    }

    #[test]
    fn own_source_words_are_known_for_their_crash_only() {
        let own = source_words("src/sync/upload_queue.rs:42");
        assert_eq!(own, ["queue", "rs", "sync", "upload"]);
        assert_eq!(template("flushqueue failed", &own, 200), "<word> failed");
        assert_eq!(
            template("upload_queue jammed", &own, 200),
            "upload_queue <word>"
        );
        assert!(source_words("anna/x.rs:3").is_empty());
    }

    #[test]
    fn whitespace_collapses_and_the_cut_keeps_placeholders_whole() {
        assert_eq!(t("  a\n\tvalue  "), "a value");
        let long = "Kowalczyk ".repeat(100);
        let tpl = template(&long, &[], 30);
        assert!(tpl.len() <= 30);
        assert!(tpl.split(' ').all(|w| w == "<word>"), "{tpl}");
    }

    #[test]
    fn templates_are_idempotent() {
        for m in [
            "cannot open Anna_Schmidt_Lauf.gpx at src/a.rs:3:4",
            "index 3 of 12.5ms 0xff a/b/c Grüße ✓ <name>'s",
            "Os { code: 2, kind: NotFound, message: \"No such file or directory\" }",
        ] {
            let once = t(m);
            assert_eq!(template(&once, &[], 200), once, "{m}");
        }
    }
}

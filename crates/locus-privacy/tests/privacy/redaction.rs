//! Issue 19, part 1: `redact_text` (what `locus-diag export --redact` does to free
//! text, and `locus-diag redact` prints) on our own realistic lines, one or more for
//! every category the issue names (grid references, ISO 6709, DMS written out, NMEA
//! fields, national ids, plates and VINs, non-Latin and rare names, handles and
//! profile URLs, crypto addresses, addresses outside Western Europe, encoded e-mails
//! and coordinates, digits in other scripts, IMSI/MEID, named places, the classic
//! shapes) and benign lines whose technical tokens must stay. Asserts that nothing
//! marked secret survives and that at least 90 % of the benign lines' technical
//! tokens do, and prints both figures (quoted in the README).

use locus_privacy::find_pii;
use locus_privacy::redact::redact_text;

const DATA: &str = include_str!("../data/redact_lines.tsv");

struct Line<'a> {
    category: &'a str,
    text: &'a str,
    secrets: Vec<&'a str>,
    keeps: Vec<&'a str>,
}

fn lines() -> Vec<Line<'static>> {
    DATA.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut cols = l.split('\t');
            let category = cols.next().unwrap();
            let text = cols.next().unwrap_or_else(|| panic!("no text in {l:?}"));
            let (mut secrets, mut keeps) = (Vec::new(), Vec::new());
            for m in cols {
                match m.split_at(1) {
                    ("-", s) => secrets.push(s),
                    ("+", k) => keeps.push(k),
                    _ => panic!("bad mark {m:?} in {l:?}"),
                }
            }
            Line {
                category,
                text,
                secrets,
                keeps,
            }
        })
        .collect()
}

#[test]
fn redaction_leaks_no_secret_and_keeps_the_technical_tokens() {
    let all = lines();
    assert!(all.len() >= 300, "{} lines", all.len());
    let mut categories: Vec<&str> = all.iter().map(|l| l.category).collect();
    categories.dedup();
    let (mut secrets, mut leaks) = (0, Vec::new());
    let (mut benign_tokens, mut benign_kept, mut lost) = (0, 0, Vec::new());
    let mut sensitive_lines = 0;
    for l in &all {
        let (out, _) = redact_text(l.text);
        if !l.secrets.is_empty() {
            sensitive_lines += 1;
            // The filter finds nothing either (benign lines may keep a request id's
            // UUID, which the filter would call personal).
            assert_eq!(find_pii(&out), None, "{:?} → {out:?}", l.text);
        }
        for s in &l.secrets {
            secrets += 1;
            if out.contains(s) {
                leaks.push(format!(
                    "[{}] {:?} → {out:?} still holds {s:?}",
                    l.category, l.text
                ));
            }
        }
        if l.secrets.is_empty() {
            for k in &l.keeps {
                benign_tokens += 1;
                if out.contains(k) {
                    benign_kept += 1;
                } else {
                    lost.push(format!("{:?} → {out:?} lost {k:?}", l.text));
                }
            }
        }
    }
    let kept_pct = 100.0 * benign_kept as f64 / benign_tokens.max(1) as f64;
    println!(
        "redaction figures: {} lines ({} sensitive in {} categories, {} benign); \
         {} of {} secrets leaked; {} of {} technical tokens of benign lines kept ({:.1} %)",
        all.len(),
        sensitive_lines,
        categories.len() - 1,
        all.len() - sensitive_lines,
        leaks.len(),
        secrets,
        benign_kept,
        benign_tokens,
        kept_pct
    );
    for l in &lost {
        println!("lost: {l}");
    }
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    assert!(
        kept_pct >= 90.0,
        "kept only {kept_pct:.1} %:\n{}",
        lost.join("\n")
    );
}

#[test]
fn redaction_is_stable_and_keeps_line_breaks() {
    for l in lines() {
        let (once, _) = redact_text(l.text);
        let (twice, _) = redact_text(&once);
        assert_eq!(twice, once, "{:?}", l.text);
    }
    let (out, _) = redact_text("a 52.52, 13.40\n\nb 250ms\r\n");
    assert_eq!(out.matches('\n').count(), 3, "{out:?}");
}

mod props {
    use locus_privacy::redact::redact_text;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary text never panics, keeps its line breaks, and a bare decimal
        /// coordinate never survives wherever it sits.
        #[test]
        fn any_text_keeps_its_lines_and_loses_coordinates(
            before in "[ -~\u{a0}-\u{2fff}\n]{0,40}",
            after in "[ -~\u{a0}-\u{2fff}\n]{0,40}",
            lat in 10u32..80, latf in 1000u32..999_999, lon in 10u32..170, lonf in 1000u32..999_999,
        ) {
            let coord = format!("{lat}.{latf}, {lon}.{lonf}");
            let text = format!("{before} {coord} {after}");
            let (out, _) = redact_text(&text);
            prop_assert_eq!(out.matches('\n').count(), text.matches('\n').count());
            prop_assert!(!out.contains(&format!("{lat}.{latf}")), "{:?} → {:?}", text, out);
            prop_assert!(!out.contains(&format!("{lon}.{lonf}")), "{:?} → {:?}", text, out);
        }
    }

    #[test]
    fn a_megabyte_line_is_handled() {
        let line = "sync 52.520008,13.404954 ok 12ms Kowalczyk ".repeat(25_000);
        let (out, counts) = redact_text(&line);
        assert!(!out.contains("52.520008"));
        assert_eq!(counts.get("<location>"), 25_000);
        assert!(out.contains("12ms"));
    }
}

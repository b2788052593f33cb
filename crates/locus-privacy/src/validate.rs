//! Small, allocation-free helpers the rules use to tell real findings from look-alikes:
//! check digits (Luhn, IBAN mod 97), the characters around a match, and the shape of
//! a decimal number.

/// The character just before byte offset `i`.
pub(crate) fn prev_char(hay: &str, i: usize) -> Option<char> {
    hay.get(..i)?.chars().next_back()
}

/// The character two before byte offset `i`.
pub(crate) fn prev_char2(hay: &str, i: usize) -> Option<char> {
    let mut it = hay.get(..i)?.chars();
    it.next_back()?;
    it.next_back()
}

/// The character starting at byte offset `i`.
pub(crate) fn next_char(hay: &str, i: usize) -> Option<char> {
    hay.get(i..)?.chars().next()
}

/// The character after the one starting at byte offset `i`.
pub(crate) fn next_char2(hay: &str, i: usize) -> Option<char> {
    let mut it = hay.get(i..)?.chars();
    it.next()?;
    it.next()
}

/// ASCII letter, digit or underscore.
pub(crate) fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether a number starting at `i` is glued to what precedes it: a word character, or
/// a `.`/`:` that itself follows a digit (`1.2.3`, `01:02:03.5`).
pub(crate) fn glued_before(hay: &str, i: usize) -> bool {
    match prev_char(hay, i) {
        Some(c) if is_word(c) => true,
        Some('.' | ':') => prev_char2(hay, i).is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Whether a number ending at `i` is glued to what follows: a word character, a unit
/// sign (`%`, `°`), or a `.`/`:` followed by a digit.
pub(crate) fn glued_after(hay: &str, i: usize) -> bool {
    match next_char(hay, i) {
        Some(c) if is_word(c) || c == '%' || c == '°' => true,
        Some('.' | ':') => next_char2(hay, i).is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// The Luhn check used by payment cards, IMEIs and Canadian SINs (non-digits ignored).
pub(crate) fn luhn_ok(s: &str) -> bool {
    let mut sum = 0u32;
    let mut n = 0usize;
    for b in s.bytes().rev().filter(u8::is_ascii_digit) {
        let mut d = u32::from(b - b'0');
        if n % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
        n += 1;
    }
    n > 0 && sum.is_multiple_of(10)
}

/// Number of ASCII digits in `s`.
pub(crate) fn digit_count(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}

/// Whether every separator (non-digit) character in `s` is the same one.
pub(crate) fn one_kind_of_separator(s: &str) -> bool {
    let mut seps = s.chars().filter(|c| !c.is_ascii_digit());
    match seps.next() {
        None => true,
        Some(first) => seps.all(|c| c == first),
    }
}

/// The IBAN check: move the first four characters to the end, letters to numbers,
/// the whole number modulo 97 must be 1. `s` holds only ASCII letters and digits.
pub(crate) fn iban_ok(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 15 || b.len() > 34 {
        return false;
    }
    let mut rem: u32 = 0;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            b'a'..=b'z' => u32::from(c - b'a') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A decimal number as written: its value and the number of digits after the point
/// (`0` when there is no fractional part). Accepts `.` or `,` as the decimal point.
pub(crate) fn decimal(s: &str) -> Option<(f64, usize)> {
    let s = s.trim();
    let frac = s.find(['.', ',']).map_or(0, |p| s.len() - p - 1);
    // A Unicode minus sign (U+2212) is a minus sign.
    let v: f64 = s.replace(',', ".").replace('\u{2212}', "-").parse().ok()?;
    v.is_finite().then_some((v, frac))
}

/// Whether `(a, b)` can be a latitude/longitude pair in either order.
pub(crate) fn lat_lon_in_range(a: f64, b: f64) -> bool {
    (a.abs() <= 90.0 && b.abs() <= 180.0) || (a.abs() <= 180.0 && b.abs() <= 90.0)
}

/// Words that are a status rather than a value (`password=missing`, `token: expired`);
/// a value like this is kept because it says something useful and reveals nothing.
pub(crate) fn is_status_word(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "true",
        "false",
        "null",
        "none",
        "nil",
        "empty",
        "missing",
        "invalid",
        "expired",
        "unset",
        "set",
        "present",
        "absent",
        "ok",
        "yes",
        "no",
        "redacted",
        "required",
        "provided",
        "unknown",
        "n/a",
        "undefined",
        "rejected",
        "revoked",
        "changed",
        "updated",
        "refreshed",
        "ignored",
        "disabled",
        "enabled",
    ];
    let t = v.trim_matches(|c| c == '"' || c == '\'');
    t.chars().all(|c| c == '*' || c == 'x' || c == 'X') && !t.is_empty()
        || WORDS.iter().any(|w| t.eq_ignore_ascii_case(w))
        || (t.starts_with('[') && t.ends_with(']'))
        || (t.starts_with('<') && t.ends_with('>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn() {
        assert!(luhn_ok("4111 1111 1111 1111"));
        assert!(luhn_ok("490154203237518"));
        assert!(!luhn_ok("4111 1111 1111 1112"));
    }

    #[test]
    fn iban() {
        assert!(iban_ok("DE89370400440532013000"));
        assert!(iban_ok("GB82WEST12345698765432"));
        assert!(!iban_ok("DE89370400440532013001"));
    }

    #[test]
    fn decimals() {
        assert_eq!(decimal("-33.8688"), Some((-33.8688, 4)));
        assert_eq!(decimal("52,5200"), Some((52.52, 4)));
        assert_eq!(decimal("12"), Some((12.0, 0)));
        assert_eq!(decimal("\u{2212}34.62"), Some((-34.62, 2)));
    }

    #[test]
    fn glue() {
        assert!(glued_before("1.2.3", 2));
        assert!(!glued_before("at 52.5", 3));
        assert!(glued_after("12.5ms", 4));
        assert!(!glued_after("12.5. Next", 4));
    }
}

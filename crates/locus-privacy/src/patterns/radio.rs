//! Radio identifiers that pin down where a phone is: mobile cell ids (`lac=`, `cid=`,
//! `tac=`, Android's `CellIdentityLte{mCi=… mTac=…}`), Wi-Fi network names (SSIDs) and
//! access point addresses (BSSIDs) written without separators (`001a2b3c4d5e`).
//!
//! A cell id plus the operator (`mcc`/`mnc`, kept: they name a country and a network)
//! is a location to within a few hundred metres, and an SSID or BSSID is one of the
//! inputs of Wi-Fi geolocation, so they go like coordinates do (`PiiKind::Location`).
//! Cell keys only count with a numeric value (`ci=true` is a CI flag, not a cell).

use regex::Captures;

use crate::engine::{Edit, Rule, Verdict};
use crate::validate::{is_status_word, is_word, next_char, prev_char};
use crate::PiiKind::Location;

const CELL: &str = "<cell>";
const SSID: &str = "<ssid>";

/// Cell ids, SSIDs and bare BSSIDs; they run before the phone-number rules, which
/// would otherwise take a long cell id for a number.
pub(crate) fn radio() -> Vec<Rule> {
    vec![
        Rule::check(
            "cell-id",
            Location,
            concat!(
                r"(?P<key>(?i:\b(?:serving_|neighbou?r_)?(?:lac|tac|cid|ci|eci|nci|ecgi|ncgi|cgi|cell[_-]?id|cellid",
                r"|enb(?:[_-]?id)?|gnb[_-]?id|lcid|rnc(?:[_-]?id)?|psc|pci|bsic))",
                r"|\bm(?:Ci|Cid|Lac|Tac|Nci|Pci|Psc|Cpid|Bsic|EnbId))\b",
                r#"(?P<sep>["']?[ \t]*(?:=>|[:=])[ \t]*)(?P<val>"(?:0x)?[0-9A-Fa-f]{1,16}"|(?:0x)?[0-9A-Fa-f]{1,16}\b)"#
            ),
            cell,
        ),
        Rule::check(
            "ssid",
            Location,
            concat!(
                r#"(?i)(?P<key>\b(?:[a-z]+_)?(?:ssid|wifi[_-]?(?:name|network|ssid)|wi-fi[ _-]?network|network[_-]?name|hotspot))"#,
                r#"\b(?P<sep>["']?[ \t]*(?:[:=]|=>)[ \t]*|[ \t]+)(?P<val>"[^"\r\n]{1,64}"|'[^'\r\n]{1,64}'|[^\s"'&,;<>(){}\[\]=][^\s"'&,;<>(){}\[\]]*)"#
            ),
            ssid,
        ),
        Rule::check(
            "ssid-prose",
            Location,
            r#"(?i)\b(?:wi-?fi|wlan|hotspot|access point)(?:[ \t]+network)?[ \t]*[:=]?[ \t]*(?P<q>["“])(?P<v>[^"”\n]{1,32})["”]"#,
            |_, caps| match caps.name("v") {
                Some(v) if !v.as_str().starts_with('<') => {
                    Verdict::Edit(Edit::new(v.start(), v.end(), SSID))
                }
                Some(v) => Verdict::Resume(v.end()),
                None => Verdict::Retry,
            },
        ),
        Rule::check(
            "bssid-bare",
            Location,
            r"\b(?P<v>[0-9A-Fa-f]{12})\b",
            |hay, caps| {
                let Some(v) = caps.name("v") else {
                    return Verdict::Retry;
                };
                if !radio_word_before(hay, v.start()) {
                    return Verdict::Resume(v.end());
                }
                let s = v.as_str().as_bytes();
                let letters = s.iter().any(u8::is_ascii_alphabetic);
                let digits = s.iter().any(u8::is_ascii_digit);
                let glued = matches!(prev_char(hay, v.start()), Some('-' | '.' | ':' | '/'))
                    || matches!(next_char(hay, v.end()), Some('-' | '.' | ':'));
                if letters && digits && !glued {
                    Verdict::Edit(Edit::new(v.start(), v.end(), "<mac>"))
                } else {
                    Verdict::Resume(v.end())
                }
            },
        ),
    ]
}

/// Radio words that make a bare 12-digit hex number an access point or device address.
const RADIO_WORDS: &[&str] = &[
    "wifi",
    "wi-fi",
    "wlan",
    "bssid",
    " ap ",
    "ap:",
    "access point",
    "router",
    "mac",
    "ble",
    "bluetooth",
    "beacon",
    "station",
];

/// Whether a radio word stands in the 48 bytes before byte `i`.
fn radio_word_before(hay: &str, i: usize) -> bool {
    let mut from = i.saturating_sub(48);
    while !hay.is_char_boundary(from) {
        from += 1;
    }
    let window = format!(" {} ", hay[from..i].to_ascii_lowercase());
    RADIO_WORDS.iter().any(|w| window.contains(w))
}

fn cell(hay: &str, caps: &Captures<'_>) -> Verdict {
    let (Some(key), Some(val)) = (caps.name("key"), caps.name("val")) else {
        return Verdict::Retry;
    };
    let inner = val.as_str().trim_matches('"');
    let hex = inner.strip_prefix("0x").unwrap_or(inner);
    let decimal = hex.bytes().all(|b| b.is_ascii_digit());
    // `cid=` and `ci=` also mean other things (a content id, a CI flag): a bare
    // decimal value, or hex written as such, is a cell.
    let numeric = decimal || inner.starts_with("0x");
    let k = key.as_str().to_ascii_lowercase();
    let weak = matches!(k.as_str(), "ci" | "cid" | "psc" | "pci" | "bsic");
    let max_ok = !decimal || hex.len() <= 10;
    let unknown = inner.bytes().all(|b| b == b'f' || b == b'F') && inner.len() >= 4
        || hex == "2147483647"
        || hex == "-1";
    if !numeric
        || !max_ok
        || unknown
        || is_status_word(inner)
        || next_char(hay, val.end()).is_some_and(is_word)
    {
        return Verdict::Resume(val.end());
    }
    if weak && hex.len() < 2 {
        return Verdict::Resume(val.end());
    }
    let start = if val.as_str().starts_with('"') {
        val.start() + 1
    } else {
        val.start()
    };
    let end = if val.as_str().ends_with('"') && val.as_str().len() > 1 {
        val.end() - 1
    } else {
        val.end()
    };
    Verdict::Edit(Edit::new(start, end, CELL))
}

fn ssid(_: &str, caps: &Captures<'_>) -> Verdict {
    let Some(val) = caps.name("val") else {
        return Verdict::Retry;
    };
    let v = val.as_str();
    let quoted = v.len() >= 2 && (v.starts_with('"') || v.starts_with('\''));
    let inner = if quoted { &v[1..v.len() - 1] } else { v };
    // `<unknown ssid>` is what Android logs when location permission is missing.
    if inner.trim().is_empty()
        || is_status_word(inner)
        || inner.eq_ignore_ascii_case("<unknown ssid>")
        || inner.starts_with('<')
    {
        return Verdict::Resume(val.end());
    }
    if quoted {
        Verdict::Edit(Edit::new(val.start() + 1, val.end() - 1, SSID))
    } else {
        Verdict::Edit(Edit::new(val.start(), val.end(), SSID))
    }
}

//! Other ways to write a place: grid and geocode systems (Open Location Code / plus
//! codes, geohash, MGRS, UTM, Maidenhead locators, what3words, H3 and S2 cell ids), map
//! tile paths (`/tiles/15/17602/10743.png`), integer micro-degrees under any key
//! (`lat_e6=`, protobuf text `lat: 524908677`), projected metres (EPSG:3857
//! `x=1492237.3 y=6894699.8`), encoded polylines, the centre of a geofence, and a single
//! latitude in an assertion message.
//!
//! Most of these systems use letters and digits that also make up ordinary identifiers,
//! so each rule wants something only the place notation has: the `+` of a plus code, the
//! key in front of a geohash or S2 id, the zone-band-square layout and even digit count
//! of MGRS, the `x/y < 2^z` of a tile, the word of an assertion (`expected`, `left:`)
//! before a lone latitude. What has no such mark (a bare geohash, a bare S2 id, which is
//! just a 19-digit number) is not recognised; see the crate's README paragraph.

use regex::Captures;

use super::{group, keyed_value, KEYED_SEP};
use crate::engine::{Edit, Rule, Verdict};
use crate::validate::{decimal, glued_after, glued_before, lat_lon_in_range, next_char, prev_char};
use crate::PiiKind::Location;

const LOC: &str = "<location>";

/// The 20 characters of Open Location Code.
const OLC: &str = "[23456789CFGHJMPQRVWXcfghjmpqrvwx]";

/// Grid and geocode systems, map tiles, micro-degrees, projected metres, polylines and
/// geofence centres. They run after the structured location rules and before e-mail,
/// network and number rules, which would otherwise take their digits.
pub(crate) fn grids() -> Vec<Rule> {
    vec![
        Rule::check(
            "plus-code",
            Location,
            &format!(r"\b{OLC}{{4,8}}\+{OLC}{{2,3}}"),
            plus_code,
        ),
        Rule::check(
            "geohash-key",
            Location,
            &format!(
                r#"(?i)(?P<key>\b(?:[a-z]+_)?geo_?hash)\b{KEYED_SEP}(?P<val>"[0-9b-hjkmnp-z]{{4,12}}"|'[0-9b-hjkmnp-z]{{4,12}}'|[0-9b-hjkmnp-z]{{4,12}}\b)"#
            ),
            keyed_value(LOC, 4),
        ),
        Rule::check(
            "geohash-prose",
            Location,
            r"(?i)\bgeohash[ \t]+(?P<v>[0-9b-hjkmnp-z]{4,12})\b",
            group("v", LOC),
        ),
        Rule::check(
            "mgrs",
            Location,
            concat!(
                r"\b(?P<zone>[0-9]{1,2})[C-HJ-NP-X][ \t]?[A-HJ-NP-Z]{2}[ \t]?",
                r"(?:(?P<e>[0-9]{1,5})[ \t](?P<n>[0-9]{1,5})|(?P<c>[0-9]{2,10}))\b"
            ),
            mgrs,
        ),
        Rule::check(
            "utm",
            Location,
            concat!(
                r"\b(?P<zone>[0-9]{1,2})[ \t]?[C-HJ-NP-X][ \t]+[0-9]{6}(?:\.[0-9]+)?[ \t]*(?:m[ \t]?E|mE|E)?",
                r"[ \t]*,?[ \t]+[0-9]{7}(?:\.[0-9]+)?(?:[ \t]*(?:m[ \t]?N|mN|N)\b)?"
            ),
            |hay, caps| {
                let (Some(m), Some(zone)) = (caps.get(0), caps.name("zone")) else {
                    return Verdict::Retry;
                };
                let zone_ok = zone
                    .as_str()
                    .parse::<u8>()
                    .is_ok_and(|z| (1..=60).contains(&z));
                if zone_ok && !glued_before(hay, m.start()) && !glued_after(hay, m.end()) {
                    Verdict::Edit(Edit::new(m.start(), m.end(), LOC))
                } else {
                    Verdict::Retry
                }
            },
        ),
        Rule::check(
            "maidenhead",
            Location,
            concat!(
                r"(?i:(?P<key>\b(?:locator|grid(?:[_-]?square)?|maidenhead|qth|qra))[ \t]*[:=]?[ \t]*)?",
                r"\b(?P<v>[A-R]{2}[0-9]{2}(?P<sub>[a-x]{2}(?:[0-9]{2})?|[A-X]{2}(?:[0-9]{2})?)?)\b"
            ),
            |hay, caps| {
                let Some(v) = caps.name("v") else {
                    return Verdict::Retry;
                };
                // `JO62qm` on its own; `JO62` and `JO62QM` only after a locator key.
                let sub_lower = caps
                    .name("sub")
                    .is_some_and(|s| s.as_str().bytes().take(2).all(|b| b.is_ascii_lowercase()));
                let keyed = caps.name("key").is_some();
                if (keyed || sub_lower) && !glued_after(hay, v.end()) {
                    Verdict::Edit(Edit::new(v.start(), v.end(), LOC))
                } else {
                    Verdict::Resume(v.end())
                }
            },
        ),
        Rule::check(
            "what3words",
            Location,
            r"(?i)(?P<pre>///|\bw3w(?:://|[ \t]*[:=][ \t]*)|what3words\.com/)(?P<v>[a-z\x{80}-\x{10FFFF}]{1,20}\.[a-z\x{80}-\x{10FFFF}]{1,20}\.[a-z\x{80}-\x{10FFFF}]{1,20})",
            |hay, caps| {
                let (Some(pre), Some(v)) = (caps.name("pre"), caps.name("v")) else {
                    return Verdict::Retry;
                };
                // `file:///a.b.c` is a path, not three words.
                if pre.as_str() == "///" && prev_char(hay, pre.start()) == Some(':') {
                    return Verdict::Resume(v.end());
                }
                let start = if pre.as_str() == "///" {
                    pre.start()
                } else {
                    v.start()
                };
                Verdict::Edit(Edit::new(start, v.end(), LOC))
            },
        ),
        Rule::check(
            "h3-cell",
            Location,
            r"\b(?P<v>8[0-9a-fA-F]{14})\b",
            |hay, caps| {
                let Some(v) = caps.name("v") else {
                    return Verdict::Retry;
                };
                let s = v.as_str().as_bytes();
                // Mode 1 (cell): `8`, then the resolution (0-15); the digits a coarser
                // resolution does not use are all ones, so the id ends in `f`.
                let res = char::from(s[1]).to_digit(16).unwrap_or(0);
                let filled = res >= 14 || s.last().is_some_and(|c| *c == b'f' || *c == b'F');
                let letters = s.iter().any(u8::is_ascii_alphabetic);
                let glued = matches!(prev_char(hay, v.start()), Some('-' | '.' | ':'))
                    || matches!(next_char(hay, v.end()), Some('-' | ':'));
                if filled && letters && !glued {
                    return Verdict::Edit(Edit::new(v.start(), v.end(), LOC));
                }
                Verdict::Resume(v.end())
            },
        ),
        Rule::check(
            "h3-s2-key",
            Location,
            concat!(
                r"(?i)(?P<key>\b(?:h3(?:[_-]?(?:index|cell|id|hex))*|s2(?:[_-]?(?:cell|id|token|cellid))*",
                r"|(?:[a-z0-9]+[_-])?(?:h3|s2)cell(?:id)?|s2cellid))\b",
                r#"(?P<sep>["']?[ \t]*(?:[:=]|\(|=>)[ \t]*)(?P<val>"[0-9a-fA-Fx]{6,20}"|'[0-9a-fA-Fx]{6,20}'|[0-9a-fA-Fx]{6,20}\b)"#
            ),
            keyed_value(LOC, 6),
        ),
        Rule::check(
            "tile-path",
            Location,
            r"/(?P<v>(?P<z>[0-9]{1,2})/(?P<x>[0-9]{1,7})/(?P<y>[0-9]{1,7}))(?:@[0-9]x)?\.(?:png|jpe?g|webp|pbf|mvt|avif|geojson|json|terrain)\b",
            tile,
        ),
        Rule::check(
            "tile-query",
            Location,
            r"(?i)[?&;]z(?:oom)?=(?P<z>[0-9]{1,2})&x=(?P<x>[0-9]{1,7})&y=(?P<y>[0-9]{1,7})",
            |_, caps| match (caps.get(0), tile_ok(caps)) {
                (Some(m), true) => Verdict::Edit(Edit::new(m.start() + 1, m.end(), LOC)),
                _ => Verdict::Retry,
            },
        ),
        Rule::check(
            "micro-degrees",
            Location,
            concat!(
                r"(?i)(?P<key>\b(?:[a-z]+[_.])?(?:latitude|longitude|lat|lng|lon)",
                r"(?:[_-]?(?:e[2-9]|micro(?:deg(?:rees)?)?|i|int|fixed|raw))?",
                r"|(?-i:\b[a-z][a-zA-Z0-9]*(?:Latitude|Longitude|Lat|Lng|Lon)(?:E[2-9]|Micro|I|Int)?))\b",
                r#"(?P<sep>["']?[ \t]*(?:=>|[:=])[ \t]*)(?P<val>"[-+]?[0-9]{5,10}"|'[-+]?[0-9]{5,10}'|[-+]?[0-9]{5,10})\b"#
            ),
            |hay, caps| {
                let Some(val) = caps.name("val") else {
                    return Verdict::Retry;
                };
                if next_char(hay, val.end()) == Some('.') || glued_after(hay, val.end()) {
                    return Verdict::Resume(val.end());
                }
                keyed_value(LOC, 5)(hay, caps)
            },
        ),
        Rule::check(
            "projected-metres",
            Location,
            concat!(
                r"(?i)\b(?P<kx>x|easting|east)[ \t]*[:=][ \t]*(?P<x>[-+]?[0-9]{5,8}(?:\.[0-9]+)?)m?",
                r"[ \t]*[,;]?[ \t]*\b(?P<ky>y|northing|north)[ \t]*[:=][ \t]*(?P<y>[-+]?[0-9]{5,8}(?:\.[0-9]+)?)m?\b",
                r"|(?i:\bEPSG:?(?:3857|900913|25832|25833|32[67][0-9]{2}|2154|27700|3035)\b)[ \t:=(\[]*",
                r"(?P<x2>[-+]?[0-9]{5,8}(?:\.[0-9]+)?)[ \t]*[, ;][ \t]*(?P<y2>[-+]?[0-9]{5,8}(?:\.[0-9]+)?)"
            ),
            |hay, caps| {
                let (Some(m), Some(x), Some(y)) = (
                    caps.get(0),
                    caps.name("x").or(caps.name("x2")),
                    caps.name("y").or(caps.name("y2")),
                ) else {
                    return Verdict::Retry;
                };
                let in_range = |s: &str| decimal(s).is_some_and(|(v, _)| v.abs() <= 20_100_000.0);
                if !in_range(x.as_str()) || !in_range(y.as_str()) || glued_after(hay, y.end()) {
                    return Verdict::Retry;
                }
                if caps.name("x2").is_some() {
                    Verdict::Edit(Edit::new(x.start(), y.end(), LOC))
                } else {
                    Verdict::Edit(Edit::new(m.start(), m.end(), LOC))
                }
            },
        ),
        Rule::check(
            "polyline",
            Location,
            concat!(
                r#"(?i)(?P<key>\b(?:[a-z]+_)?(?:polyline|encoded[_-]?(?:path|polyline|points?)|geometry|shape|points?)s?)\b"#,
                r#"(?P<sep>["']?[ \t]*(?:=>|[:=])[ \t]*)(?P<val>"[?-~]{6,}"|'[?-~]{6,}'|[?-~&&[^\[\]"'<>\\]]{6,})"#,
                r#"|\benc:(?P<enc>[?-~&&[^\[\]{}"'<>]]{6,})"#
            ),
            |hay, caps| {
                if let Some(e) = caps.name("enc") {
                    return Verdict::Edit(Edit::new(e.start(), e.end(), LOC));
                }
                let Some(val) = caps.name("val") else {
                    return Verdict::Retry;
                };
                let inner = val.as_str().trim_matches(['"', '\'']);
                // A polyline is noise: not a word, a type name or a WKT keyword.
                let symbols = inner.bytes().filter(|b| !b.is_ascii_alphanumeric()).count();
                let digits = inner.bytes().filter(u8::is_ascii_digit).count();
                let mixed = inner.bytes().any(|b| b.is_ascii_lowercase())
                    && inner.bytes().any(|b| b.is_ascii_uppercase());
                if inner.len() >= 8 && mixed && (symbols >= 1 || digits >= 2) {
                    keyed_value(LOC, 6)(hay, caps)
                } else {
                    Verdict::Resume(val.end())
                }
            },
        ),
        Rule::check(
            "geofence-centre",
            Location,
            concat!(
                r"(?i)\b(?:cent(?:er|re)|home|work|geofence|fence|region|circle|anchor",
                r"|location|coords?|coordinates|latlng|latlon|ll)\b",
                r#"["']?[ \t]*(?:[:=]|=>)?[ \t]*[(\[{<]?[ \t]*"#,
                r"(?P<v>(?:[-+]|\x{2212})?[0-9]{1,3}\.[0-9]{1,15}[ \t]*[,;/ ][ \t]*(?:[-+]|\x{2212})?[0-9]{1,3}\.[0-9]{1,15})"
            ),
            |hay, caps| {
                let Some(v) = caps.name("v") else {
                    return Verdict::Retry;
                };
                let mut it = v
                    .as_str()
                    .split([',', ';', '/', ' ', '\t'])
                    .filter(|p| !p.is_empty())
                    .map(decimal);
                let ok = match (it.next().flatten(), it.next().flatten()) {
                    (Some((a, _)), Some((b, _))) => lat_lon_in_range(a, b),
                    _ => false,
                };
                if ok && !glued_after(hay, v.end()) {
                    Verdict::Edit(Edit::new(v.start(), v.end(), LOC))
                } else {
                    Verdict::Resume(v.end())
                }
            },
        ),
    ]
}

/// A lone latitude or longitude in an assertion or comparison message (`assertion
/// failed: lat == 52.520008`, `expected 52.5200 but was 52.5201`, `left: 52.520008`):
/// a decimal with four or more fractional digits, in range, within 80 characters after
/// a word of comparison. Runs after the pair rules, which take pairs whole.
pub(crate) fn lone() -> Vec<Rule> {
    vec![Rule::check(
        "assertion-coordinate",
        Location,
        r"(?P<v>(?:[-+]|\x{2212})?\b[0-9]{1,3}\.[0-9]{4,15})\b",
        |hay, caps| {
            let Some(v) = caps.name("v") else {
                return Verdict::Retry;
            };
            if !comparison_before(hay, v.start()) {
                return Verdict::Resume(v.end());
            }
            let in_range = decimal(v.as_str()).is_some_and(|(x, _)| x.abs() <= 180.0);
            let digit_start = v.as_str().find(|c: char| c.is_ascii_digit()).unwrap_or(0);
            if in_range && !glued_before(hay, v.start() + digit_start) && !glued_after(hay, v.end())
            {
                Verdict::Edit(Edit::new(v.start(), v.end(), LOC))
            } else {
                Verdict::Resume(v.end())
            }
        },
    )]
}

/// Words of comparison that make a lone decimal a suspect.
const COMPARISON: &[&str] = &[
    "assert",
    "expected",
    "expect",
    "actual",
    "left",
    "right",
    "got",
    "want",
    "found",
    "was",
    "should be",
    "mismatch",
    "differ",
    "!=",
    "==",
    "≠",
];

/// Whether a word of comparison stands in the 80 bytes before byte `i`.
fn comparison_before(hay: &str, i: usize) -> bool {
    let mut from = i.saturating_sub(80);
    while !hay.is_char_boundary(from) {
        from += 1;
    }
    let window = hay[from..i].to_ascii_lowercase();
    COMPARISON.iter().any(|w| window.contains(w))
}

fn plus_code(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    let s = m.as_str();
    let Some(plus) = s.find('+') else {
        return Verdict::Retry;
    };
    let (head, tail) = (&s[..plus], &s[plus + 1..]);
    // Full codes have 8 characters before the `+`, short ones 4 or 6; a code mixes
    // letters and digits (`2222+22` is arithmetic) and is not glued to a word.
    let layout = matches!(head.len(), 4 | 6 | 8);
    let mixed = s.bytes().any(|b| b.is_ascii_alphabetic()) && s.bytes().any(|b| b.is_ascii_digit());
    let one_case =
        !(s.bytes().any(|b| b.is_ascii_lowercase()) && s.bytes().any(|b| b.is_ascii_uppercase()));
    let end_ok = !next_char(hay, m.end()).is_some_and(|c| c.is_ascii_alphanumeric() || c == '+');
    if layout && mixed && one_case && end_ok && !tail.is_empty() && !glued_before(hay, m.start()) {
        Verdict::Edit(Edit::new(m.start(), m.end(), LOC))
    } else {
        Verdict::Resume(m.end())
    }
}

fn mgrs(hay: &str, caps: &Captures<'_>) -> Verdict {
    let (Some(m), Some(zone)) = (caps.get(0), caps.name("zone")) else {
        return Verdict::Retry;
    };
    let zone_ok = zone
        .as_str()
        .parse::<u8>()
        .is_ok_and(|z| (1..=60).contains(&z));
    // Easting and northing have the same number of digits (1 to 5 each); written
    // without a blank they are one run of an even number of digits.
    let digits_ok = match (caps.name("e"), caps.name("n"), caps.name("c")) {
        (Some(e), Some(n), _) => n.as_str().len() == e.as_str().len(),
        (_, _, Some(c)) => c.as_str().len() % 2 == 0 && c.as_str().len() >= 4,
        _ => false,
    };
    if zone_ok && digits_ok && !glued_before(hay, m.start()) && !glued_after(hay, m.end()) {
        Verdict::Edit(Edit::new(m.start(), m.end(), LOC))
    } else {
        Verdict::Retry
    }
}

fn tile_ok(caps: &Captures<'_>) -> bool {
    let num = |n: &str| caps.name(n).and_then(|g| g.as_str().parse::<u64>().ok());
    match (num("z"), num("x"), num("y")) {
        // Zoom 10 and more is a few kilometres or less; x and y below 2^z.
        (Some(z), Some(x), Some(y)) => (10..=24).contains(&z) && x < (1 << z) && y < (1 << z),
        _ => false,
    }
}

fn tile(_: &str, caps: &Captures<'_>) -> Verdict {
    match caps.name("v") {
        Some(v) if tile_ok(caps) => Verdict::Edit(Edit::new(v.start(), v.end(), LOC)),
        Some(v) => Verdict::Resume(v.end()),
        None => Verdict::Retry,
    }
}

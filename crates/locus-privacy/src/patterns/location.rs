//! Location in every shape a log line of a tracking app carries it: NMEA sentences,
//! `geo:` URIs, map links, WKT, GeoJSON, E7 integers, `lat`/`lon` keys in text and
//! JSON, degrees-minutes-seconds, and bare decimal coordinate pairs.
//!
//! A bare pair is only taken for a coordinate when it looks like one: two decimals
//! with a fractional part, in range (|lat| <= 90, |lon| <= 180 in either order), not
//! glued to letters, units or other numbers (`12.5ms`, `87.5%`, `1.2.0`), and precise
//! enough for its separator (brackets accept `[13.4,52.5]`; a comma wants three
//! fractional digits between the two numbers; a plain space wants five).

use regex::Captures;

use super::{group, group_with_digit, json_key, keyed_value};
use crate::engine::{Edit, Rule, Verdict};
use crate::validate::{decimal, glued_after, glued_before, lat_lon_in_range, prev_char};
use crate::PiiKind::Location;

const LOC: &str = "<location>";

/// A decimal number as it appears in a coordinate (the sign may be a Unicode minus).
const NUM: &str = r"(?:[-+]|\x{2212})?[0-9]{1,3}\.[0-9]{1,15}";

/// NMEA 0183 sentences from a GNSS receiver: the whole sentence goes.
pub(crate) fn nmea() -> Vec<Rule> {
    vec![Rule::whole(
        "nmea",
        Location,
        concat!(
            r"(?:\$(?:G[PLABNIQ]|BD|QZ)[A-Z]{3}|\$P(?:UBX|MTK[0-9]*|SRF[0-9]*|GRM[A-Z])",
            r"|\b(?:G[PLABNIQ]|BD|QZ)(?:GGA|RMC|GLL|GNS|GSA|GSV|VTG|ZDA|GST|GBS|HDT|TXT)),[^\s]*"
        ),
        LOC,
    )]
}

/// Location with a recognisable structure around it.
pub(crate) fn structured() -> Vec<Rule> {
    vec![
        Rule::whole(
            "geo-uri",
            Location,
            r#"(?i)\bgeo:[ \t]*[-+]?[0-9]{1,3}(?:\.[0-9]+)?[ \t]*,[ \t]*[-+]?[0-9]{1,3}(?:\.[0-9]+)?[^\s"'<>]*"#,
            LOC,
        ),
        Rule::check(
            "map-link",
            Location,
            concat!(
                r"(?i)\bhttps?://(?:[a-z0-9-]+\.)*(?:google\.[a-z]{2,3}(?:\.[a-z]{2})?/maps",
                r"|maps\.google\.[a-z]{2,3}(?:\.[a-z]{2})?|maps\.googleapis\.com|maps\.app\.goo\.gl",
                r"|goo\.gl/maps|openstreetmap\.org|osm\.org|maps\.apple\.com|bing\.com/maps|waze\.com",
                r#"|here\.com|mapquest\.com)(?P<rest>[/?#][^\s"']*)"#
            ),
            |_, caps| {
                let Some(rest) = caps.name("rest") else { return Verdict::Retry };
                if rest.as_str() == "/<location>" {
                    return Verdict::Resume(rest.end());
                }
                Verdict::Edit(Edit::new(rest.start(), rest.end(), "/<location>"))
            },
        ),
        Rule::check(
            "map-at",
            Location,
            &format!(r"@(?P<v>{NUM},[ ]?{NUM}(?:,[0-9.]+[a-z]{{0,3}})*)"),
            group("v", LOC),
        ),
        Rule::check(
            "map-osm-hash",
            Location,
            r"#map=(?P<v>[0-9]{1,2}/[-+]?[0-9.]+/[-+]?[0-9.]+)",
            group("v", LOC),
        ),
        Rule::check(
            "map-query-place",
            Location,
            r#"(?i)[?&;](?:q|query|daddr|saddr|destination|origin|near|address|waypoints?)=(?P<v>[^&#\s"'<>]+)"#,
            group("v", LOC),
        ),
        Rule::check(
            "map-query-coordinates",
            Location,
            concat!(
                r"(?i)[?&;#](?:ll|sll|cbll|center|mlat|mlon|latlng|latlon|lonlat|lnglat|coords?",
                r#"|coordinates|location|loc|pos|position|point|marker|markers|viewpoint)=(?P<v>[^&#\s"'<>]+)"#
            ),
            group_with_digit("v", LOC),
        ),
        Rule::check(
            "wkt",
            Location,
            &r"(?i)\b(?:MULTI)?(?:POINT|LINESTRING|POLYGON)[ \t]*(?:ZM|Z|M)?[ \t]*\((?P<v>C*|(?:[ \t]*\(C*\)[ \t]*,?)+|(?:[ \t]*\((?:[ \t]*\(C*\)[ \t]*,?)+\)[ \t]*,?)+)\)"
                .replace('C', r"[-+0-9.eE, \t]"),
            group_with_digit("v", LOC),
        ),
        Rule::check(
            "geojson",
            Location,
            r#"(?i)(?P<key>\b(?:coordinates|bbox))(?P<sep>"?[ \t]*[:=][ \t]*)(?P<val>\[[-+0-9.eE, \t\[\]]*\])"#,
            |hay, caps| match caps.name("val") {
                Some(v) if v.as_str().bytes().any(|b| b.is_ascii_digit()) => {
                    let text = if json_key(hay, caps) { "\"<location>\"" } else { LOC };
                    Verdict::Edit(Edit::new(v.start(), v.end(), text))
                }
                Some(v) => Verdict::Resume(v.end()),
                None => Verdict::Retry,
            },
        ),
        Rule::check(
            "e7",
            Location,
            concat!(
                r"(?i)(?P<key>\b(?:[a-z0-9]+[_.-])*(?:latitude|longitude|lat|lng|lon)[_-]?e7",
                r"|(?-i:\b[a-z][a-zA-Z0-9]*(?:Latitude|Longitude|Lat|Lng|Lon)E7))\b",
                r#"(?P<sep>"?[ \t]*[:=][ \t]*)(?P<val>"[-+]?[0-9]{1,10}"|'[-+]?[0-9]{1,10}'|[-+]?[0-9]{1,10})"#
            ),
            keyed_value(LOC, 1),
        ),
        Rule::check(
            "lat-lon-key",
            Location,
            concat!(
                r"(?i)(?P<key>\b(?:[a-z0-9]+[_.-])*(?:latitude|longitude|lat[_/-]?(?:lng|lon|long)",
                r"|lng[_/-]?lat|lon[_/-]?lat|lat|lng|lon|long)",
                r"|(?-i:\b[a-z][a-zA-Z0-9]*(?:Latitude|Longitude|Lat|Lng|Lon)))\b",
                r#"(?P<sep>"?[ \t]*(?:=>|[:=])[ \t]*|[ \t]+)"#,
                r#"(?P<val>"(?P<q1>NUMV)"|'(?P<q2>NUMV)'|(?P<bare>NUMV))"#
            )
            .replace(
                "NUMV",
                concat!(
                    r"(?:[-+]|\x{2212})?[0-9]{1,3}(?:\.[0-9]+|,[0-9]{4,15})?\b",
                    r"(?:(?:[ \t]*[,/;][ \t]*|[ \t]+)(?:[-+]|\x{2212})?[0-9]{1,3}(?:\.[0-9]+|,[0-9]{4,15})\b){0,4}"
                ),
            )
            .as_str(),
            lat_lon_key,
        ),
        Rule::check(
            "dms",
            Location,
            concat!(
                r"(?P<h1>\b[NSEW][ \t]?)?(?P<deg>[0-9]{1,3}(?:[.,][0-9]+)?)[ \t]*(?:°|º|˚|[ \t]?deg\b)",
                r"(?:[ \t]*(?P<min>[0-9]{1,2}(?:[.,][0-9]+)?)[ \t]*(?:'|′|’|´)",
                r#"(?:[ \t]*(?P<sec>[0-9]{1,2}(?:[.,][0-9]+)?)[ \t]*(?:\\?"|″|''|”))?"#,
                r"(?:[ \t]*(?P<h2>[NSEW])\b)?|[ \t]*(?P<h3>[NSEW])\b)"
            ),
            |_, caps| dms(caps, true),
        ),
        Rule::check(
            "dms-spaced",
            Location,
            concat!(
                r"\b(?P<deg>[0-9]{1,3})[ \t]+(?P<min>[0-9]{1,2}(?:\.[0-9]+)?)",
                r"(?:[ \t]+(?P<sec>[0-9]{1,2}(?:\.[0-9]+)?))?[ \t]*(?P<h2>[NSEW])\b"
            ),
            |_, caps| dms(caps, false),
        ),
        Rule::whole(
            "decimal-hemisphere-pair",
            Location,
            concat!(
                r"\b[0-9]{1,3}\.[0-9]+[ \t]*°?[ \t]*[NS][,; \t]+[0-9]{1,3}\.[0-9]+[ \t]*°?[ \t]*[EW]\b",
                r"|\b[NS][ \t]?[0-9]{1,3}\.[0-9]+°?[,; \t]+[EW][ \t]?[0-9]{1,3}\.[0-9]+\b°?"
            ),
            LOC,
        ),
        Rule::check(
            "decimal-hemisphere",
            Location,
            concat!(
                r"\b(?:[NSEW][ \t]?(?P<n1>[0-9]{1,3}\.[0-9]{3,})",
                r"|(?P<n2>[0-9]{1,3}\.[0-9]{3,})[ \t]*[NSEW]\b)"
            ),
            |hay, caps| {
                let (Some(m), Some(n)) = (caps.get(0), caps.name("n1").or(caps.name("n2"))) else {
                    return Verdict::Retry;
                };
                let in_range = decimal(n.as_str()).is_some_and(|(v, _)| v <= 180.0);
                if in_range && !glued_after(hay, m.end()) {
                    Verdict::Edit(Edit::new(m.start(), m.end(), LOC))
                } else {
                    Verdict::Resume(m.end())
                }
            },
        ),
    ]
}

/// Bare decimal pairs, after the IP address rules have taken dotted quads.
pub(crate) fn pairs() -> Vec<Rule> {
    vec![
        Rule::check(
            "decimal-pair",
            Location,
            &format!(
                r"(?P<open>[(\[{{<])?[ \t]*(?P<chain>{NUM}(?:(?:[ \t]*[,;][ \t]*|[ \t]+){NUM}){{1,15}})[ \t]*(?P<close>[)\]}}>])?"
            ),
            decimal_pair,
        ),
        Rule::check(
            "decimal-comma-pair",
            Location,
            concat!(
                r"(?:[-+]|\x{2212})?[0-9]{1,3},[0-9]{4,12}(?:[ \t]*[;/][ \t]*|[ \t]+|,[ \t]+)",
                r"(?:[-+]|\x{2212})?[0-9]{1,3},[0-9]{4,12}"
            ),
            |hay, caps| {
                let Some(m) = caps.get(0) else {
                    return Verdict::Retry;
                };
                // The separator is the first `;`, `/`, blank or comma-and-blank.
                let s = m.as_str();
                let cut = s
                    .find([';', '/', ' ', '\t'])
                    .map(|i| {
                        if s[..i].ends_with(',') && s[..i - 1].contains(',') {
                            i - 1
                        } else {
                            i
                        }
                    })
                    .unwrap_or(s.len());
                let mut it = [
                    &s[..cut],
                    s[cut..].trim_start_matches([';', '/', ',', ' ', '\t']),
                ]
                .into_iter()
                .map(decimal);
                let ok = match (it.next().flatten(), it.next().flatten()) {
                    (Some((a, _)), Some((b, _))) => lat_lon_in_range(a, b),
                    _ => false,
                };
                if ok && !glued_before(hay, m.start()) && !glued_after(hay, m.end()) {
                    Verdict::Edit(Edit::new(m.start(), m.end(), LOC))
                } else {
                    Verdict::Retry
                }
            },
        ),
    ]
}

fn lat_lon_key(hay: &str, caps: &Captures<'_>) -> Verdict {
    let (Some(key), Some(sep), Some(val)) = (caps.name("key"), caps.name("sep"), caps.name("val"))
    else {
        return Verdict::Retry;
    };
    let Some(num) = caps.name("q1").or(caps.name("q2")).or(caps.name("bare")) else {
        return Verdict::Retry;
    };
    let text = num.as_str();
    let first_len = first_number_len(text);
    let first_end = num.start() + first_len;
    let Some((value, frac)) = decimal(&text[..first_len]) else {
        return Verdict::Resume(val.end());
    };
    let spaced = sep.as_str().trim().is_empty();
    let prose_long = spaced && key.as_str().to_ascii_lowercase().ends_with("long");
    if value.abs() > 180.0 || (spaced && frac == 0) || prose_long {
        return Verdict::Resume(val.end());
    }
    if caps.name("bare").is_none() {
        return Verdict::Edit(Edit::new(num.start(), num.end(), LOC));
    }
    // `lat=52.52,13.40` takes both numbers; `lon=13.40; 87.5%` only the first.
    let b = text.as_bytes();
    let number_ends = (1..=b.len())
        .rev()
        .filter(|&i| {
            b[i - 1].is_ascii_digit() && b.get(i).is_none_or(|c| !c.is_ascii_digit() && *c != b'.')
        })
        .map(|i| num.start() + i)
        .filter(|&end| end >= first_end);
    for end in number_ends {
        if glued_after(hay, end) {
            continue;
        }
        if end == val.end() && json_key(hay, caps) {
            return Verdict::Edit(Edit::new(val.start(), val.end(), "\"<location>\""));
        }
        return Verdict::Edit(Edit::new(num.start(), end, LOC));
    }
    Verdict::Resume(val.end())
}

/// The length of the first number of a run such as `52.52,13.40` or `52,490868 13,404954`:
/// a comma followed by four or more digits is a decimal comma, any other comma, slash,
/// semicolon or blank ends the number.
fn first_number_len(text: &str) -> usize {
    let b = text.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'/' | b';' | b' ' | b'\t' => return i,
            b',' => {
                let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
                if digits < 4 || b[..i].contains(&b'.') {
                    return i;
                }
            }
            _ => {}
        }
    }
    b.len()
}

/// Degrees-minutes-seconds: in range, and either with minutes or with a hemisphere
/// (so that `35.2°C` and `heading 270°` are kept).
fn dms(caps: &Captures<'_>, symbols: bool) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    let num = |n: &str| caps.name(n).and_then(|g| decimal(g.as_str()));
    let deg = num("deg");
    let min = num("min");
    let sec = num("sec");
    let hemisphere = ["h1", "h2", "h3"].iter().any(|h| caps.name(h).is_some());
    let in_range = deg.is_some_and(|(d, _)| d <= 180.0)
        && min.is_none_or(|(v, _)| v < 60.0)
        && sec.is_none_or(|(v, _)| v < 60.0);
    let shaped = if symbols {
        min.is_some() || hemisphere
    } else {
        sec.is_some() || min.is_some_and(|(_, f)| f > 0)
    };
    if in_range && shaped {
        Verdict::Edit(Edit::new(m.start(), m.end(), LOC))
    } else {
        Verdict::Retry
    }
}

/// One number of a run of decimals.
struct Num {
    start: usize,
    end: usize,
    value: f64,
    frac: usize,
    /// Whether the separator before it holds a comma or semicolon (else only blanks).
    punct_before: bool,
}

fn decimal_pair(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(chain) = caps.name("chain") else {
        return Verdict::Retry;
    };
    let mut nums = Vec::with_capacity(4);
    let base = chain.start();
    let s = chain.as_str();
    let mut i = 0;
    let bytes = s.as_bytes();
    let mut punct = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() || c == b'-' || c == b'+' {
            let j = bytes[i..]
                .iter()
                .position(|b| !(b.is_ascii_digit() || *b == b'.' || *b == b'-' || *b == b'+'))
                .map_or(bytes.len(), |p| i + p);
            // A Unicode minus sign just before the digits belongs to the number.
            let minus = if s[..i].ends_with('\u{2212}') {
                '\u{2212}'.len_utf8()
            } else {
                0
            };
            if let Some((value, frac)) = decimal(&s[i - minus..j]) {
                nums.push(Num {
                    start: base + i - minus,
                    end: base + j,
                    value,
                    frac,
                    punct_before: punct,
                });
            }
            punct = false;
            i = j;
        } else {
            punct |= c == b',' || c == b';';
            i += 1;
        }
    }
    let resume_at = nums.last().map_or(chain.end(), |n| n.start);
    let total = nums.len();
    let mut first = 0;
    while first < nums.len() && glued_before(hay, nums[first].start) {
        first += 1;
    }
    let mut last = nums.len();
    while last > first && glued_after(hay, nums[last - 1].end) {
        last -= 1;
    }
    let run = &nums[first..last];
    let bracketed =
        run.len() == 2 && total == 2 && caps.name("open").is_some() && caps.name("close").is_some();
    let found = run.windows(2).any(|w| {
        let (a, b) = (&w[0], &w[1]);
        let precise = if bracketed {
            a.frac >= 1 && b.frac >= 1
        } else if b.punct_before {
            a.frac >= 1 && b.frac >= 1 && a.frac + b.frac >= 3
        } else {
            a.frac >= 2 && b.frac >= 2 && a.frac + b.frac >= 5
        };
        precise && lat_lon_in_range(a.value, b.value)
    });
    if !found {
        return Verdict::Resume(resume_at);
    }
    let (start, end) = (run[0].start, run[run.len() - 1].end);
    // `"center": [13.4, 52.5]` becomes `"center": "<location>"`, still JSON.
    if let (true, Some(open), Some(close)) = (bracketed, caps.name("open"), caps.name("close")) {
        if open.as_str() == "[" && close.as_str() == "]" && json_value_position(hay, open.start()) {
            return Verdict::Edit(Edit::new(open.start(), close.end(), "\"<location>\""));
        }
    }
    Verdict::Edit(Edit::new(start, end, LOC))
}

/// Whether byte offset `i` starts the value of a quoted JSON key (`"k": ` before it).
fn json_value_position(hay: &str, i: usize) -> bool {
    let before = hay[..i].trim_end_matches([' ', '\t']);
    before.ends_with(':') && prev_char(before, before.len() - 1) == Some('"')
}

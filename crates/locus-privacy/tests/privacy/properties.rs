//! Property tests for the privacy filter: personal data and coordinates of every shape
//! are generated, embedded in random log-like text (words, numbers, durations,
//! versions, punctuation, line breaks), and none of the generated sensitive values may
//! survive `scrub`. For every input the output keeps the line breaks, is a fixed point
//! of `scrub`, and is clean for `find_pii`; arbitrary strings never panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use locus_privacy::{find_pii, scrub, LineScrubber};
use proptest::prelude::*;
use proptest::sample::select;

/// A generated sensitive value: the text to embed and substrings that must be gone.
#[derive(Debug, Clone)]
struct Pii {
    text: String,
    secrets: Vec<String>,
}

fn pii(text: String, secrets: Vec<String>) -> Pii {
    Pii { text, secrets }
}

impl Pii {
    /// The text around the secrets (`lat=`, `:8443`, `POINT Z (...34.5)`): a secret
    /// that also occurs there by chance cannot be checked for.
    fn residue(&self) -> String {
        let mut t = self.text.clone();
        // Only whole values are cut out: a fractional part is also inside its number.
        let outer = self.secrets.iter().filter(|s| {
            !self
                .secrets
                .iter()
                .any(|o| o.len() > s.len() && o.contains(s.as_str()))
        });
        for s in outer {
            t = t.replace(s.as_str(), " ");
        }
        t
    }
}

// ---------------------------------------------------------------- surrounding text

const WORDS: &[&str] = &[
    "INFO",
    "WARN",
    "ERROR",
    "DEBUG",
    "TRACE",
    "sync",
    "upload",
    "failed",
    "gps",
    "fix",
    "battery",
    "retry",
    "locus::sync::s3",
    "src/sync/s3.rs:42:7",
    "took",
    "in",
    "after",
    "ok",
    "HTTP",
    "503",
    "200",
    "12.5ms",
    "0.25 s",
    "87.5%",
    "v1.2.3",
    "1.2.0-beta.1",
    "2026-11-27T01:02:03Z",
    "4.2 KiB",
    "attempt",
    "2/2",
    "status=200",
    "count=12",
    "(",
    ")",
    ":",
    "-",
    "=",
    ",",
    "records",
    "queue",
    "breaker",
    "open",
    "temp 31.5°C",
    "[main]",
    "{",
    "}",
    "->",
    "#",
    "3 of 5",
    "x2",
    "1h30m",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(WORDS).prop_map(String::from),
        1 => (0u32..100_000).prop_map(|n| n.to_string()),
        1 => "[a-z]{4,8}",
    ]
}

fn filler() -> impl Strategy<Value = String> {
    prop::collection::vec(token(), 0..8).prop_map(|v| v.join(" "))
}

/// What stands between the surrounding text and the value.
const JOINERS: &[&str] = &[
    " ", ", ", ": ", "=", " (", ") ", "\t", " \"", "\" ", "\n", "\r\n", " [", "] ", "; ", " | ",
    " -> ", ". ",
];

/// What stands between two values on one line (not `=`, which makes the second value
/// part of the first, e.g. of a URL's query string).
const GLUES: &[&str] = &[
    " ", ", ", ": ", " (", ") ", "\t", "\n", " | ", " -> ", ". ", "; ",
];

// ---------------------------------------------------------------- location

fn frac(s: &str) -> Option<String> {
    let f = s.split('.').nth(1)?;
    (f.len() >= 3).then(|| f.to_string())
}

/// A coordinate formatted with 3 to 7 decimals: (lat, lon) as text and as numbers.
fn coordinate() -> impl Strategy<Value = (String, String, f64, f64)> {
    (-90.0f64..=90.0, -180.0f64..=180.0, 3usize..=7, 3usize..=7)
        .prop_map(|(lat, lon, a, b)| (format!("{lat:.a$}"), format!("{lon:.b$}"), lat, lon))
}

const PAIR_SHAPES: &[&str] = &[
    "{lat}, {lon}",
    "{lat},{lon}",
    "{lat} {lon}",
    "({lat} {lon})",
    "({lat}, {lon})",
    "[{lon},{lat}]",
    "[{lon}, {lat}]",
    "{lat};{lon}",
    "{lat}; {lon}",
    "fix {lat}, {lon} acc=4.5m",
    "Location[fused {lat},{lon} hAcc=5 et=+1d2h]",
    "{\"lat\": {lat}, \"lon\": {lon}}",
    "{\"latitude\":\"{lat}\",\"longitude\":\"{lon}\"}",
    "lat={lat} lon={lon}",
    "lat={lat}&lng={lon}",
    "latitude: {lat}, longitude: {lon}",
    "Location(latitude={lat}, longitude={lon}, accuracy=12.0)",
    "mLatitude={lat} mLongitude={lon}",
    "lat {lat} lng {lon}",
    "latlng={lat},{lon}",
    "geo:{lat},{lon}",
    "geo:{lat},{lon};u=12",
    "https://www.google.com/maps/@{lat},{lon},15z",
    "https://maps.google.com/?q={lat},{lon}",
    "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=15/{lat}/{lon}",
    "https://example.com/map?ll={lat},{lon}&z=3",
    "https://example.com/tiles?center={lat},{lon}",
    "POINT({lon} {lat})",
    "POINT Z ({lon} {lat} 34.5)",
    "SRID=4326;POINT ({lon} {lat})",
    "{\"type\":\"Point\",\"coordinates\":[{lon},{lat}]}",
    "\"coordinates\": [[{lon}, {lat}], [{lon}, {lat}]]",
];

fn coordinate_pair() -> impl Strategy<Value = Pii> {
    (coordinate(), select(PAIR_SHAPES)).prop_map(|((lat, lon, _, _), shape)| {
        let text = shape.replace("{lat}", &lat).replace("{lon}", &lon);
        let mut secrets = vec![lat.clone(), lon.clone()];
        secrets.extend(frac(&lat));
        secrets.extend(frac(&lon));
        pii(text, secrets)
    })
}

fn dms_parts(v: f64) -> (u32, u32, f64, f64) {
    let a = v.abs();
    let d = a.floor();
    let minutes = ((a - d) * 60.0).min(59.999);
    let m = minutes.floor();
    let s = ((minutes - m) * 60.0).min(59.9);
    (d as u32, m as u32, s, minutes)
}

fn dms() -> impl Strategy<Value = Pii> {
    (coordinate(), 0usize..4).prop_map(|((_, _, lat, lon), shape)| {
        let (ns, ew) = (
            if lat < 0.0 { 'S' } else { 'N' },
            if lon < 0.0 { 'W' } else { 'E' },
        );
        let (d1, m1, s1, dm1) = dms_parts(lat);
        let (d2, m2, s2, dm2) = dms_parts(lon);
        let (text, secrets) = match shape {
            0 => {
                let a = format!("{d1}°{m1}'{s1:.1}\"");
                let b = format!("{d2}°{m2}'{s2:.1}\"");
                (format!("{a}{ns} {b}{ew}"), vec![a, b])
            }
            1 => {
                let a = format!("{d1}° {m1}' {s1:.1}\"");
                let b = format!("{d2}° {m2}' {s2:.1}\"");
                (format!("{a} {ns}, {b} {ew}"), vec![a, b])
            }
            2 => {
                let a = format!("{d1}° {dm1:.3}'");
                let b = format!("{d2}° {dm2:.3}'");
                (format!("{ns} {a} {ew} {b}"), vec![a, b])
            }
            _ => {
                let a = format!("{d1} {m1} {} {ns}", s1.floor());
                let b = format!("{d2} {m2} {} {ew}", s2.floor());
                (format!("{a} {b}"), vec![a, b])
            }
        };
        pii(text, secrets)
    })
}

fn nmea() -> impl Strategy<Value = Pii> {
    (coordinate(), 0usize..3, "[0-9A-F]{2}").prop_map(|((_, _, lat, lon), kind, sum)| {
        let (ns, ew) = (
            if lat < 0.0 { 'S' } else { 'N' },
            if lon < 0.0 { 'W' } else { 'E' },
        );
        let (_, _, _, m1) = dms_parts(lat);
        let (_, _, _, m2) = dms_parts(lon);
        let la = format!("{:02}{:07.4}", lat.abs().floor() as u32, m1);
        let lo = format!("{:03}{:07.4}", lon.abs().floor() as u32, m2);
        let text = match kind {
            0 => format!("$GPGGA,123519.00,{la},{ns},{lo},{ew},1,08,0.9,545.4,M,46.9,M,,*{sum}"),
            1 => format!("$GPRMC,123519,A,{la},{ns},{lo},{ew},022.4,084.4,230394,003.1,W*{sum}"),
            _ => format!("$GNGLL,{la},{ns},{lo},{ew},123519,A*{sum}"),
        };
        pii(text, vec![la, lo])
    })
}

fn e7() -> impl Strategy<Value = Pii> {
    (coordinate(), 0usize..3).prop_map(|((_, _, lat, lon), shape)| {
        let (a, b) = ((lat * 1e7).round() as i64, (lon * 1e7).round() as i64);
        let text = match shape {
            0 => format!("latitudeE7: {a}, longitudeE7: {b}"),
            1 => format!("{{\"latitudeE7\":{a},\"longitudeE7\":{b}}}"),
            _ => format!("lat_e7={a} lng_e7={b}"),
        };
        // Values near the equator or the meridian are a few digits: not worth checking.
        let secrets = [a, b]
            .iter()
            .map(i64::to_string)
            .filter(|s| s.len() >= 5)
            .collect();
        pii(text, secrets)
    })
}

// ---------------------------------------------------------------- personal data

fn email() -> impl Strategy<Value = Pii> {
    (
        "[a-z0-9][a-z0-9._+-]{0,15}",
        "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?",
        prop::collection::vec("[a-z0-9]{1,8}", 0..2),
        "[a-z]{2,6}",
    )
        .prop_map(|(local, host, subs, tld)| {
            let mut domain = host;
            for s in subs {
                domain.push('.');
                domain.push_str(&s);
            }
            let e = format!("{local}@{domain}.{tld}");
            pii(e.clone(), vec![e, format!("{local}@")])
        })
}

fn phone() -> impl Strategy<Value = Pii> {
    (
        "[1-9][0-9]{0,2}",
        "[1-9][0-9]{1,3}",
        "[0-9]{6,7}",
        "[2-9][0-9]{2}",
        "[2-9][0-9]{2}",
        "[0-9]{4}",
        0usize..11,
    )
        .prop_map(|(cc, area, sub, npa, nxx, last, shape)| {
            let (text, key) = match shape {
                0 => (format!("+{cc} {area} {sub}"), sub),
                1 => (format!("+{cc}{area}{sub}"), sub),
                2 => (format!("+{cc} ({area}) {sub}"), sub),
                3 => (format!("00{cc} {area} {sub}"), sub),
                4 => (format!("0{area} {sub}"), sub),
                5 => (format!("(0{area}) {sub}"), sub),
                6 => (format!("0{area}/{sub}"), sub),
                7 => (format!("({npa}) {nxx}-{last}"), format!("{nxx}-{last}")),
                8 => (format!("{npa}-{nxx}-{last}"), format!("{nxx}-{last}")),
                9 => (format!("{npa}.{nxx}.{last}"), format!("{nxx}.{last}")),
                _ => (format!("+1 {npa} {nxx} {last}"), format!("{nxx} {last}")),
            };
            pii(text.clone(), vec![text, key])
        })
}

fn ipv4() -> impl Strategy<Value = Pii> {
    (1u8..=223, any::<u8>(), any::<u8>(), any::<u8>())
        .prop_filter("not loopback", |(a, ..)| *a != 127)
        .prop_map(|(a, b, c, d)| {
            let ip = format!("{a}.{b}.{c}.{d}");
            let text = if d % 3 == 0 {
                format!("{ip}:8443")
            } else {
                ip.clone()
            };
            pii(text, vec![ip])
        })
}

fn ipv6() -> impl Strategy<Value = Pii> {
    (any::<[u16; 8]>(), 0usize..3)
        .prop_map(|(g, shape)| {
            let addr = std::net::Ipv6Addr::from(g);
            let full = g
                .iter()
                .map(|x| format!("{x:x}"))
                .collect::<Vec<_>>()
                .join(":");
            let short = addr.to_string();
            (addr, full, short, shape)
        })
        .prop_filter("a real, routable-looking address", |(addr, _, short, _)| {
            !addr.is_loopback()
                && !addr.is_unspecified()
                && short.bytes().any(|b| b.is_ascii_digit())
                && addr.to_ipv4_mapped().is_none()
        })
        .prop_map(|(_, full, short, shape)| match shape {
            0 => pii(short.clone(), vec![short]),
            1 => pii(format!("[{short}]:443"), vec![short]),
            _ => pii(full.clone(), vec![full]),
        })
}

fn mac() -> impl Strategy<Value = Pii> {
    (any::<[u8; 6]>(), select(&[":", "-"][..]), any::<bool>()).prop_map(|(b, sep, upper)| {
        let m = b
            .iter()
            .map(|x| {
                if upper {
                    format!("{x:02X}")
                } else {
                    format!("{x:02x}")
                }
            })
            .collect::<Vec<_>>()
            .join(sep);
        pii(m.clone(), vec![m])
    })
}

fn luhn_complete(body: &str) -> String {
    // The check digit that makes `body + d` Luhn-valid.
    let mut sum = 0;
    for (i, b) in body.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    format!("{body}{}", (10 - sum % 10) % 10)
}

fn imei() -> impl Strategy<Value = Pii> {
    ("[0-9]{14}", any::<bool>()).prop_map(|(body, dashed)| {
        let n = luhn_complete(&body);
        let text = if dashed {
            format!("{}-{}-{}-{}", &n[..2], &n[2..8], &n[8..14], &n[14..])
        } else {
            n.clone()
        };
        pii(text.clone(), vec![n, text])
    })
}

fn card() -> impl Strategy<Value = Pii> {
    let network = prop_oneof![
        "4[0-9]{14}".prop_map(|b| (b, 16)),
        "4[0-9]{11}".prop_map(|b| (b, 13)),
        "5[1-5][0-9]{13}".prop_map(|b| (b, 16)),
        "2[2-7][0-9]{13}".prop_map(|b| (b, 16)),
        "3[47][0-9]{12}".prop_map(|b| (b, 15)),
        "6011[0-9]{11}".prop_map(|b| (b, 16)),
    ];
    (network, 0usize..3).prop_map(|((body, len), format)| {
        let n = luhn_complete(&body);
        debug_assert_eq!(n.len(), len);
        let text = match (format, len) {
            (0, _) => n.clone(),
            (_, 15) => format!("{} {} {}", &n[..4], &n[4..10], &n[10..]),
            (1, _) => n
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c))
                .collect::<Vec<_>>()
                .join(" "),
            _ => n
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c))
                .collect::<Vec<_>>()
                .join("-"),
        };
        pii(text.clone(), vec![n, text])
    })
}

fn iban_from(country: &str, bban: &str) -> String {
    let rearranged = format!("{bban}{country}00");
    let mut rem = 0u32;
    for c in rearranged.chars() {
        let v = c.to_digit(36).unwrap_or(0);
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    format!("{country}{:02}{bban}", 98 - rem)
}

fn iban() -> impl Strategy<Value = Pii> {
    let bban = prop_oneof![
        "[0-9]{18}".prop_map(|b| ("DE", b)),
        "[A-Z]{4}[0-9]{14}".prop_map(|b| ("GB", b)),
        "[A-Z]{4}[0-9]{10}".prop_map(|b| ("NL", b)),
        "[0-9]{23}".prop_map(|b| ("FR", b)),
        "[0-9]{20}".prop_map(|b| ("ES", b)),
        "[A-Z][0-9]{22}".prop_map(|b| ("IT", b)),
    ];
    (bban, any::<bool>()).prop_map(|((country, bban), spaced)| {
        let compact = iban_from(country, &bban);
        let text = if spaced {
            compact
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c))
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            compact.clone()
        };
        pii(text.clone(), vec![compact, text, bban])
    })
}

fn national_id() -> impl Strategy<Value = Pii> {
    let ssn = (1u32..=899, 1u32..=99, 1u32..=9999)
        .prop_filter("valid area", |(a, ..)| *a != 666)
        .prop_map(|(a, g, s)| format!("{a:03}-{g:02}-{s:04}"));
    let nino = (
        "[ABCEGHJKLMNOPRSTWXYZ]",
        "[ABCEGHJKLMNPRSTWXYZ]",
        "[0-9]{6}",
        "[A-D]",
        any::<bool>(),
    )
        .prop_map(|(a, b, d, s, spaced)| {
            if spaced {
                format!("{a}{b} {} {} {} {s}", &d[..2], &d[2..4], &d[4..])
            } else {
                format!("{a}{b}{d}{s}")
            }
        });
    let dni = (0u32..100_000_000).prop_map(|n| {
        let letters = b"TRWAGMYFPDXBNJZSQVHLCKE";
        format!("{n:08}{}", letters[(n % 23) as usize] as char)
    });
    let cpf = "[0-9]{3}\\.[0-9]{3}\\.[0-9]{3}-[0-9]{2}";
    prop_oneof![ssn, nino, dni, cpf.prop_map(String::from)].prop_map(|id| pii(id.clone(), vec![id]))
}

fn home_dir() -> impl Strategy<Value = Pii> {
    ("[a-z][a-z0-9_]{2,10}", 0usize..5)
        .prop_filter("a person's name", |(u, _)| {
            !["shared", "public", "default"].contains(&u.as_str())
        })
        .prop_map(|(u, shape)| {
            let (text, secret) = match shape {
                0 => (
                    format!("/home/{u}/src/locus/src/main.rs:12:5"),
                    format!("/home/{u}"),
                ),
                1 => (
                    format!("/Users/{u}/Library/Logs/locus.log"),
                    format!("/Users/{u}"),
                ),
                2 => (
                    format!("C:\\Users\\{u}\\AppData\\Local\\locus"),
                    format!("Users\\{u}"),
                ),
                3 => (
                    format!("file:///home/{u}/tracks/day.gpx"),
                    format!("/home/{u}"),
                ),
                _ => (
                    format!("C:\\\\Users\\\\{u}\\\\Desktop"),
                    format!("Users\\\\{u}"),
                ),
            };
            pii(text, vec![secret])
        })
}

// ---------------------------------------------------------------- secrets

fn bearer() -> impl Strategy<Value = Pii> {
    ("[A-Za-z0-9][A-Za-z0-9_.~+/-]{19,59}", 0usize..4).prop_map(|(tok, shape)| {
        let text = match shape {
            0 => format!("Authorization: Bearer {tok}"),
            1 => format!("authorization=Bearer {tok}"),
            2 => format!("{{\"Authorization\":\"Bearer {tok}\"}}"),
            _ => format!("Bearer {tok}"),
        };
        pii(text, vec![tok])
    })
}

fn url_credentials() -> impl Strategy<Value = Pii> {
    (
        "[a-z][a-z0-9._-]{0,10}",
        "[A-Za-z0-9!$*+._~-]{6,16}",
        "[a-z][a-z0-9-]{1,10}\\.(com|org|io)",
    )
        .prop_map(|(user, pass, host)| {
            let text = format!("https://{user}:{pass}@{host}/bucket/diagnostics.log.gz");
            pii(text, vec![format!("{user}:{pass}@"), pass])
        })
}

const QUERY_KEYS: &[&str] = &[
    "token",
    "access_token",
    "key",
    "sig",
    "password",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "api_key",
    "client_secret",
    "signature",
];

fn query_secret() -> impl Strategy<Value = Pii> {
    (
        select(QUERY_KEYS),
        "[A-Za-z0-9%_.~-]{7,40}[0-9]",
        any::<bool>(),
    )
        .prop_map(|(k, v, first)| {
            let text = if first {
                format!("https://s3.example.com/b/o.gz?{k}={v}&n=1")
            } else {
                format!("https://s3.example.com/b/o.gz?n=1&{k}={v}")
            };
            pii(text, vec![v])
        })
}

fn aws() -> impl Strategy<Value = Pii> {
    ("AKIA[A-Z0-9]{16}", "[A-Za-z0-9/+]{40}", 0usize..4).prop_map(|(id, secret, shape)| match shape
    {
        0 => pii(format!("access key {id} denied"), vec![id]),
        1 => pii(format!("aws_access_key_id={id}"), vec![id]),
        2 => pii(format!("aws_secret_access_key = {secret}"), vec![secret]),
        _ => pii(
            format!("{{\"SecretAccessKey\": \"{secret}\"}}"),
            vec![secret],
        ),
    })
}

const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apiKey",
    "client_secret",
    "DB_PASSWORD",
    "pin",
    "access_token",
    "X-Api-Key",
    "refreshToken",
];

fn password() -> impl Strategy<Value = Pii> {
    (
        select(SECRET_KEYS),
        "[A-Za-z0-9!#$%^*+._~@-]{5,23}[0-9]",
        0usize..6,
    )
        .prop_map(|(k, v, shape)| {
            let text = match shape {
                0 => format!("{k}={v}"),
                1 => format!("{k}: {v}"),
                2 => format!("{k} = {v}"),
                3 => format!("\"{k}\": \"{v}\""),
                4 => format!("{k}='{v}'"),
                // A command-line value cannot start with `-` (it would be the next flag).
                _ => format!("--{} k{v}", k.to_ascii_lowercase().replace('_', "-")),
            };
            pii(text, vec![v])
        })
}

fn pem() -> impl Strategy<Value = Pii> {
    (
        select(
            &[
                "PRIVATE KEY",
                "RSA PRIVATE KEY",
                "EC PRIVATE KEY",
                "OPENSSH PRIVATE KEY",
                "CERTIFICATE",
            ][..],
        ),
        "[A-Za-z0-9+/]{40,64}",
        "[A-Za-z0-9+/]{8,40}={0,2}",
        0usize..3,
    )
        .prop_map(|(label, b1, b2, shape)| {
            let text = match shape {
                0 => format!("-----BEGIN {label}-----{b1}{b2}-----END {label}-----"),
                1 => format!("-----BEGIN {label}-----\\n{b1}\\n{b2}\\n-----END {label}-----\\n"),
                _ => format!("-----BEGIN {label}-----\n{b1}\n{b2}\n-----END {label}-----"),
            };
            pii(text, vec![b1, b2])
        })
}

fn identifiers() -> impl Strategy<Value = Pii> {
    let uuid = any::<[u8; 16]>().prop_map(|b| {
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    });
    // An id, not an address or a number: `0x` and up to 16 digits is a program counter,
    // 16 digits from `0000` a user-space address, only decimal digits a count; all kept.
    let hex = prop_oneof![
        "[1-9a-f][0-9a-f]{14,38}[a-f]".prop_map(String::from),
        "[0-9a-f]{16,39}[a-f]".prop_map(|h| format!("0x{h}")),
    ];
    let jwt = (
        "[A-Za-z0-9_-]{10,40}",
        "[A-Za-z0-9_-]{10,60}",
        "[A-Za-z0-9_-]{20,43}",
    )
        .prop_map(|(h, p, s)| format!("eyJ{h}.eyJ{p}.{s}"));
    prop_oneof![uuid, hex, jwt].prop_map(|id| pii(id.clone(), vec![id]))
}

fn any_pii() -> impl Strategy<Value = Pii> {
    prop_oneof![
        coordinate_pair(),
        dms(),
        nmea(),
        e7(),
        email(),
        phone(),
        ipv4(),
        ipv6(),
        mac(),
        imei(),
        card(),
        iban(),
        national_id(),
        home_dir(),
        bearer(),
        url_credentials(),
        query_secret(),
        aws(),
        password(),
        pem(),
        identifiers(),
    ]
}

// ---------------------------------------------------------------- the properties

fn line_breaks(s: &str) -> (usize, usize) {
    (s.matches('\n').count(), s.matches('\r').count())
}

/// The invariants that hold for every input.
fn invariants(input: &str) -> Result<String, TestCaseError> {
    let out = scrub(input).into_owned();
    prop_assert_eq!(
        line_breaks(input),
        line_breaks(&out),
        "line breaks changed: {:?}",
        out
    );
    let again = scrub(&out);
    prop_assert_eq!(&*again, out.as_str(), "not idempotent");
    prop_assert_eq!(find_pii(&out), None, "find_pii on the output: {:?}", out);
    Ok(out)
}

proptest! {
    // 768 cases a test by default; `PROPTEST_CASES=20000` for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(768),
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_pii_does_not_survive(
        value in any_pii(),
        before in filler(),
        after in filler(),
        j1 in select(JOINERS),
        j2 in select(JOINERS),
    ) {
        let input = format!("{before}{j1}{}{j2}{after}", value.text);
        prop_assert!(find_pii(&input).is_some(), "not detected: {:?}", input);
        let out = invariants(&input)?;
        let context = format!("{before}{j1}{}{j2}{after}", value.residue());
        for secret in &value.secrets {
            if !context.contains(secret.as_str()) {
                prop_assert!(!out.contains(secret.as_str()), "{:?} survived in {:?}", secret, out);
            }
        }
    }

    #[test]
    fn several_values_on_one_line(values in prop::collection::vec(any_pii(), 2..5), glue in select(GLUES)) {
        let texts: Vec<&str> = values.iter().map(|v| v.text.as_str()).collect();
        let input = texts.join(glue);
        let out = invariants(&input)?;
        let context: String = values.iter().map(|v| v.residue() + glue).collect();
        for secret in values.iter().flat_map(|v| &v.secrets) {
            if !context.contains(secret.as_str()) {
                prop_assert!(!out.contains(secret.as_str()), "{:?} survived in {:?}", secret, out);
            }
        }
    }

    #[test]
    fn line_by_line_equals_whole_text(values in prop::collection::vec(any_pii(), 1..4), fill in filler()) {
        let parts: Vec<&str> = values.iter().map(|v| v.text.as_str()).chain([fill.as_str()]).collect();
        let text = parts.join("\n");
        let mut s = LineScrubber::new();
        let streamed: Vec<String> = text.split('\n').map(|l| s.scrub_line(l).into_owned()).collect();
        prop_assert_eq!(streamed.join("\n"), scrub(&text).into_owned());
    }

    #[test]
    fn clean_filler_is_kept(text in filler()) {
        // Words, counts, durations, versions and timestamps are not personal data.
        prop_assert_eq!(scrub(&text), text.as_str());
    }

    #[test]
    fn arbitrary_strings_keep_the_invariants(s in any::<String>()) {
        invariants(&s)?;
    }

    #[test]
    fn log_alphabet_keeps_the_invariants(s in "[ -~\n\r°′″’]{0,200}") {
        invariants(&s)?;
    }

    #[test]
    fn numeric_soup_keeps_the_invariants(s in "[0-9 .,:;+()\\[\\]NSEWxa-f°'\"/@#=_-]{0,120}") {
        invariants(&s)?;
    }

    #[test]
    fn pii_pieces_glued_together_keep_the_invariants(
        values in prop::collection::vec(any_pii(), 1..4),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..4),
    ) {
        // Fragments of values, glued without separators: odd inputs for the rules'
        // context checks.
        let joined: String = values.iter().map(|v| v.text.as_str()).collect();
        let mut s = String::new();
        let chars: Vec<char> = joined.chars().collect();
        let mut last = 0;
        for c in cuts {
            let i = c.index(chars.len() + 1);
            if i > last {
                s.extend(&chars[last..i]);
                last = i;
            }
        }
        invariants(&s)?;
    }
}

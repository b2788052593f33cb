//! Street addresses and postcodes in prose: `221B Baker Street`, `Hauptstraße 12`,
//! `12 rue de Rivoli`, `Calle Mayor 5`, UK (`SW1A 1AA`) and Canadian (`K1A 0B1`)
//! postcodes, US ZIP codes after a state (`, CA 94103`), and European postcodes before a
//! town (`, 10115 Berlin`, `D-10115 Berlin`).
//!
//! An address needs its street word (`Street`, `Straße`, `rue`, `Via` ...) next to a
//! house number; a postcode needs the layout only postcodes have (the UK and Canadian
//! ones) or the state or town that goes with it. A street name with no number or a lone
//! five-digit number stays, because counts and ports look the same.

use regex::Captures;

use crate::engine::{Edit, Rule, Verdict};
use crate::validate::{glued_after, glued_before};
use crate::PiiKind::Location;

const ADDRESS: &str = "<address>";

/// A capitalised word, Latin-1 letters included (`Müller`, `Élysées`).
const CAP: &str = r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'’]+";

/// Street addresses and postcodes; after the grid rules (which take `33U ...`) and
/// before the number rules (which would take a house number and postcode for a phone).
pub(crate) fn addresses() -> Vec<Rule> {
    let street_en = concat!(
        "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl",
        "|Terrace|Square|Sq|Crescent|Close|Parkway|Pkwy|Highway|Hwy|Row|Mews|Gardens|Grove|Hill"
    );
    let street_de = concat!(
        "straße|strasse|str\\.|weg|allee|platz|gasse|damm|ufer|chaussee|steig|pfad",
        "|markt|graben|gracht|laan|plein|straat|vej|gade|gatan|vägen|veien|gata"
    );
    let street_romance = concat!(
        "[Rr]ue|[Aa]venue|[Bb]oulevard|[Cc]hemin|[Aa]llée|[Ii]mpasse|[Qq]uai|[Pp]lace|[Cc]ours",
        "|Calle|C/|Avenida|Avda\\.|Paseo|Plaza|Via|Viale|Piazza|Corso|Vicolo|Largo|Rua|Travessa|Praça"
    );
    vec![
        Rule::check(
            "street-en",
            Location,
            &format!(
                r"\b[0-9]{{1,5}}[A-Za-z]?,?[ \t]+(?:{CAP}[ \t]+){{1,3}}(?:{street_en})\b\.?(?:,?[ \t]+(?:Apt|Suite|Unit|Flat)\.?[ \t]*[0-9A-Za-z]{{1,5}})?"
            ),
            whole_address,
        ),
        Rule::check(
            "street-de",
            Location,
            &format!(
                r"(?:\b{CAP}(?:[ \t-]{CAP}){{0,2}}[ \t-]?)(?i:{street_de})[ \t]+[0-9]{{1,4}}[a-zA-Z]?\b(?:[ \t]*[-/][ \t]*[0-9]{{1,4}}[a-z]?)?"
            ),
            whole_address,
        ),
        Rule::check(
            "street-romance",
            Location,
            &format!(
                r"(?:\b[0-9]{{1,4}}(?:[ \t]?(?:bis|ter|[a-zA-Z]))?,?[ \t]+)?\b(?:{street_romance})[ \t]+(?:(?:de|del|de la|des|du|di|della|do|da|dos|das|d'|l')[ \t]*)?{CAP}(?:[ \t]+{CAP}){{0,2}}(?:,?[ \t]+(?:n[º°o]\.?[ \t]*)?[0-9]{{1,4}}[a-zA-Z]?\b)?"
            ),
            |hay, caps| {
                // A number on either side of the street name makes it an address.
                let Some(m) = caps.get(0) else {
                    return Verdict::Retry;
                };
                let s = m.as_str();
                let numbered = s.starts_with(|c: char| c.is_ascii_digit())
                    || s.ends_with(|c: char| c.is_ascii_alphanumeric())
                        && s.rsplit([' ', '\t', ','])
                            .next()
                            .is_some_and(|w| w.starts_with(|c: char| c.is_ascii_digit()));
                if numbered {
                    whole_address(hay, caps)
                } else {
                    Verdict::Resume(m.end())
                }
            },
        ),
        Rule::check(
            "postcode-uk",
            Location,
            r"\b(?P<v>(?:[A-PR-UWYZ][0-9][0-9A-HJKPSTUW]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9ABEHMNPRVWXY]?) [0-9][ABD-HJLNP-UW-Z]{2})\b",
            |hay, caps| {
                let Some(v) = caps.name("v") else {
                    return Verdict::Retry;
                };
                // `V8 8GB` and `A1 2TB` are sizes.
                let unit = ["GB", "TB", "PB"].iter().any(|u| v.as_str().ends_with(u));
                if unit || glued_after(hay, v.end()) {
                    Verdict::Resume(v.end())
                } else {
                    Verdict::Edit(Edit::new(v.start(), v.end(), ADDRESS))
                }
            },
        ),
        Rule::whole(
            "postcode-ca",
            Location,
            r"\b[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z] [0-9][ABCEGHJ-NPRSTV-Z][0-9]\b",
            ADDRESS,
        ),
        Rule::check(
            "postcode-us",
            Location,
            concat!(
                r",[ \t]*(?P<v>(?:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO",
                r"|MT|NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY)[ \t]+[0-9]{5}(?:-[0-9]{4})?)\b"
            ),
            |_, caps| match caps.name("v") {
                Some(v) => Verdict::Edit(Edit::new(v.start(), v.end(), ADDRESS)),
                None => Verdict::Retry,
            },
        ),
        Rule::check(
            "postcode-town",
            Location,
            &format!(
                r"(?:,[ \t]*|\b(?P<cc>[A-Z]{{1,2}}-))(?P<v>[0-9]{{4,5}}[ \t]+{CAP}(?:[ \t-]{CAP})?)"
            ),
            |hay, caps| match (caps.name("cc"), caps.name("v")) {
                // `D-10115 Berlin`: the country prefix goes with it.
                (Some(cc), Some(v)) => Verdict::Edit(Edit::new(cc.start(), v.end(), ADDRESS)),
                (None, Some(v)) if !glued_before(hay, v.start()) => {
                    Verdict::Edit(Edit::new(v.start(), v.end(), ADDRESS))
                }
                (_, Some(v)) => Verdict::Resume(v.end()),
                _ => Verdict::Retry,
            },
        ),
    ]
}

/// Replaces a whole address match unless it is glued to a word or a number.
fn whole_address(hay: &str, caps: &Captures<'_>) -> Verdict {
    let Some(m) = caps.get(0) else {
        return Verdict::Retry;
    };
    let s = m.as_str();
    let lead_digit = s.starts_with(|c: char| c.is_ascii_digit());
    if (lead_digit && glued_before(hay, m.start()))
        || glued_after(hay, m.end()) && !s.ends_with('.')
    {
        return Verdict::Retry;
    }
    Verdict::Edit(Edit::new(m.start(), m.end(), ADDRESS))
}

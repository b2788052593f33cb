//! People in prose: names, device names that carry a name, e-mail addresses written to
//! dodge a filter (`anna at example dot org`) or with a non-ASCII domain, dates of birth
//! and passport numbers.
//!
//! Names are found by a heuristic, on purpose a narrow one: a given name from a fixed list
//! of common given names (about 400, many languages; words that are also ordinary
//! English, such as `Will`, `May`, `Max`, `Grace`, are left out), followed by a
//! capitalised surname, separated by a blank, `_`, `-` or `.` (`Anna Schmidt`,
//! `Anna_Schmidt_run.gpx`, `anna.schmidt` is an e-mail's business). Titles count as given
//! names (`Dr. Weber`, `Frau Müller`). Limits, by design: a name not on the list, a
//! surname alone, a name written in lower case, or a given name alone (`Anna`) is kept;
//! non-Latin scripts are not recognised. Device names are found by their device word
//! (`Anna's AirPods`, `Annas-MacBook-Pro.local`, `iPhone von Anna`): whatever capitalised
//! word owns the device is taken for a name, list or not.

use regex::Captures;

use crate::engine::{Edit, Rule, Verdict};
use crate::validate::{is_word, next_char, prev_char};
use crate::PiiKind::Personal;

const NAME: &str = "<name>";

/// Common given names (and titles) that are not also ordinary English words.
const GIVEN: &str = concat!(
    "Aaron|Abdul|Adam|Adrian|Agnes|Ahmed|Aisha|Alan|Albert|Alberto|Aleksandr|Alessandro|Alex|Alexander|Alexandra",
    "|Alexei|Alfred|Ali|Alice|Alicia|Alina|Alison|Amanda|Amelia|Amir|Amy|Ana|Anders|Andrea|Andreas|Andrei|Andrew|Andrzej",
    "|Angela|Anita|Anja|Ann|Anna|Anne|Annette|Annika|Antoine|Anton|Antonio|Arjun|Arne|Astrid|Aurelie|Ava|Axel|Barbara",
    "|Beatriz|Ben|Benjamin|Bernd|Bernhard|Bettina|Bianca|Birgit|Björn|Bob|Boris|Brian|Bruno|Camille|Carl|Carla|Carlos",
    "|Carmen|Carol|Caroline|Catherine|Charlotte|Chen|Chiara|Chloe|Chris|Christian|Christina|Christine|Christoph",
    "|Christopher|Claire|Clara|Claudia|Daniel|Daniela|Dario|David|Deepak|Dennis|Diana|Diego|Dieter|Dimitri|Dmitri|Dmitry",
    "|Doris|Dorothy|Edward|Elena|Eleni|Elias|Elif|Elisa|Elisabeth|Elizabeth|Ella|Emil|Emily|Emma|Enrico|Eric|Erik",
    "|Erika|Ernst|Esther|Eva|Evelyn|Fabian|Fatima|Felix|Fernando|Finn|Florian|Francesca|Francesco|Franz|Frederik",
    "|Friedrich|Gabriel|Gabriele|Georg|George|Gerhard|Giovanni|Giulia|Giuseppe|Greta|Gregor|Günter|Hanna|Hannah|Hans",
    "|Harald|Harry|Hassan|Heike|Heinrich|Heinz|Helen|Helena|Helga|Helmut|Henrik|Henry|Hiroshi|Holger|Hugo|Ian|Igor",
    "|Ines|Ingrid|Irene|Isabel|Isabella|Isabelle|Ivan|Jacob|Jakob|James|Jan|Jana|Jane|Janet|Jason|Javier|Jennifer",
    "|Jens|Jessica|Joachim|Joanna|Johann|Johanna|Johannes|John|Jonas|Jonathan|Jorge|José|Josef|Joseph|Juan|Judith",
    "|Julia|Julian|Juliane|Julie|Jürgen|Kai|Karen|Karin|Karl|Katarzyna|Katharina|Kathrin|Katja|Kenji|Kerstin|Kevin",
    "|Klaus|Knut|Kurt|Lara|Lars|Laura|Lea|Leah|Lena|Leon|Leonie|Lina|Linda|Lisa|Liu|Lorenzo|Louis|Louise|Luca|Lucas",
    "|Lucia|Luis|Lukas|Luka|Maciej|Magdalena|Maja|Manfred|Manuel|Marco|Marcus|Margaret|Maria|Marie|Marina|Mario|Marion",
    "|Markus|Marta|Martha|Martin|Martina|Mary|Mateo|Mathias|Matthew|Matthias|Maximilian|Mehmet|Melanie|Mia|Michael",
    "|Michaela|Michel|Michelle|Miguel|Mika|Mikael|Mikhail|Mohamed|Mohammed|Monika|Moritz|Muhammad|Nadia|Natalia",
    "|Nathalie|Nicola|Nicolas|Nicole|Niklas|Nikolai|Nils|Nina|Noah|Nora|Olaf|Olga|Oliver|Olivia|Omar|Oscar|Otto|Pablo",
    "|Paola|Patricia|Patrick|Paul|Paula|Pedro|Peter|Petra|Philipp|Pierre|Piotr|Priya|Rafael|Rahul|Raphael|Rebecca",
    "|Regina|Renate|Richard|Robert|Roberto|Rolf|Rosa|Ruth|Sabine|Sandra|Sara|Sarah|Sebastian|Sergei|Sergey",
    "|Simon|Simone|Sofia|Sophia|Sophie|Stefan|Stefanie|Steffen|Stephan|Stephanie|Susanne|Sven|Svenja|Tanja|Thomas",
    "|Tim|Timo|Tobias|Tom|Tomasz|Torsten|Ursula|Uwe|Valentina|Vanessa|Vera|Veronika|Victor|Viktor|Vincent|Walter",
    "|Wei|Werner|Wolfgang|Xavier|Yannick|Yuki|Yusuf|Yvonne|Zoe|Zofia",
    "|Mr|Mrs|Ms|Dr|Prof|Herr|Frau|Madame|Monsieur|Mme|Señor|Señora"
);

/// Capitalised words that follow a given name in log text without being a surname.
const NOT_SURNAMES: &[&str] = &[
    "Exception",
    "Error",
    "Service",
    "Manager",
    "Client",
    "Server",
    "Request",
    "Response",
    "Thread",
    "Worker",
    "Handler",
    "Activity",
    "Fragment",
    "View",
    "Controller",
    "Provider",
    "Factory",
    "Test",
    "Tests",
    "Mode",
    "Config",
    "Settings",
    "Version",
    "Update",
    "Studio",
    "Code",
    "Model",
    "Build",
    "Debug",
    "Release",
    "Pro",
    "Plus",
    "Max",
    "Mini",
    "Ultra",
    "Lite",
    "App",
    "Api",
    "Sdk",
    "Mon",
    "Tue",
    "Wed",
    "Thu",
    "Fri",
    "Sat",
    "Sun",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
];

/// Device words in a host name (`annas-mbp.local`, `Anna-Schmidts-iPhone`).
const HOST_DEVICES: &str = concat!(
    "(?i:macbook(?:-pro|-air)?|imac|mac-?mini|mac-?pro|iphone|ipad|mbp|mba)",
    "|Galaxy-[SAZN][0-9]+|Pixel-[0-9]+[a-z]?"
);

/// Device words that follow an owner's name.
const DEVICES: &str = concat!(
    "iPhone|iPad|iPod|iMac|Mac(?:Book)?(?:[ -](?:Pro|Air|mini|Studio))?|AirPods(?:[ -](?:Pro|Max))?",
    "|Apple[ -]Watch|Watch|HomePod|Galaxy(?:[ -][A-Za-z0-9+]+)?|Pixel(?:[ -][0-9A-Za-z]+)?|Phone|Tablet|Laptop",
    "|Notebook|Desktop|PC|Computer|Kindle|Echo|Fire[ -]TV|TV|Fitbit|Garmin|Headphones|Buds|Car|Android|Xperia",
    "|OnePlus|Surface|ThinkPad|Chromebook|MBP|MBA"
);

/// Names, device names, e-mail in other clothes, dates of birth, passports. They run
/// after the e-mail and home-directory rules (a name in `anna.schmidt@x.org` or
/// `/home/anna` is theirs).
pub(crate) fn people() -> Vec<Rule> {
    vec![
        Rule::check(
            "email-spelled",
            Personal,
            concat!(
                r"(?i)\b[a-z0-9][a-z0-9._%+-]*[ \t]*(?:\[at\]|\(at\)|\{at\}|<at>|[ \t]at[ \t]|[ \t]@[ \t])[ \t]*",
                r"[a-z0-9][a-z0-9-]*(?:[ \t]*(?:\[dot\]|\(dot\)|\{dot\}|<dot>|[ \t]dot[ \t]|\.)[ \t]*[a-z0-9][a-z0-9-]*)*",
                r"[ \t]*(?:\[dot\]|\(dot\)|\{dot\}|<dot>|[ \t]dot[ \t])[ \t]*[a-z]{2,24}\b"
            ),
            |_, caps| match caps.get(0) {
                Some(m) => Verdict::Edit(Edit::new(m.start(), m.end(), "<email>")),
                None => Verdict::Retry,
            },
        ),
        Rule::check(
            "email-intl",
            Personal,
            r"[A-Za-z0-9_.%+\-\x{80}-\x{10FFFF}]+@(?:[A-Za-z0-9_\-\x{80}-\x{10FFFF}]+\.)+[A-Za-z\x{80}-\x{10FFFF}]{2,24}",
            |hay, caps| {
                let Some(m) = caps.get(0) else {
                    return Verdict::Retry;
                };
                let before_ok = !prev_char(hay, m.start()).is_some_and(char::is_alphanumeric);
                let after_ok = !next_char(hay, m.end()).is_some_and(char::is_alphanumeric);
                if before_ok && after_ok && !m.as_str().starts_with('<') {
                    Verdict::Edit(Edit::new(m.start(), m.end(), "<email>"))
                } else {
                    Verdict::Resume(m.end())
                }
            },
        ),
        Rule::check(
            "device-owner",
            Personal,
            &format!(r"[a-zß-öø-ÿ](?P<p>['’`]s?|s)[ ](?:{DEVICES})\b"),
            owner,
        ),
        Rule::check(
            "device-hostname",
            Personal,
            &format!(r"[A-Za-z]-(?P<d>{HOST_DEVICES})\b"),
            |hay, caps| {
                let Some(d) = caps.name("d") else {
                    return Verdict::Retry;
                };
                // The owner: one or two letter runs before the device word (`Annas-`,
                // `anna-schmidts-`), at most 48 bytes back.
                let dash = d.start() - 1;
                let run = |to: usize| {
                    let n = hay[..to]
                        .bytes()
                        .rev()
                        .take(24)
                        .take_while(u8::is_ascii_alphabetic)
                        .count();
                    (n >= 2).then(|| to - n)
                };
                let Some(mut start) = run(dash) else {
                    return Verdict::Resume(d.end());
                };
                if hay[..start].ends_with('-') {
                    if let Some(s) = run(start - 1) {
                        if !prev_char(hay, s).is_some_and(|c| is_word(c) || c == '-' || c == '.') {
                            start = s;
                        }
                    }
                }
                if prev_char(hay, start).is_some_and(|c| is_word(c) || c == '-' || c == '.') {
                    return Verdict::Resume(d.end());
                }
                let n = &hay[start..dash];
                let lower = n.to_ascii_lowercase();
                const GENERIC: &[&str] = &[
                    "my",
                    "the",
                    "your",
                    "apple",
                    "google",
                    "samsung",
                    "test",
                    "dev",
                    "build",
                    "ci",
                    "home",
                    "office",
                    "work",
                    "shared",
                    "guest",
                    "android",
                    "ios",
                    "new",
                    "old",
                    "main",
                    "local",
                    "user",
                    "admin",
                    "default",
                    "device",
                    "remote",
                    "virtual",
                    "vm",
                    "simulator",
                    "emulator",
                    "mobile",
                    "company",
                    "corp",
                ];
                if GENERIC.contains(&lower.trim_end_matches('s')) || lower.contains("name") {
                    return Verdict::Resume(d.end());
                }
                Verdict::Edit(Edit::new(start, dash, NAME))
            },
        ),
        Rule::check(
            "device-of",
            Personal,
            &format!(
                r"\b(?:{DEVICES})[ ](?:von|de|di|van|of|från|fra|od)[ ](?P<n>[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+)"
            ),
            |_, caps| match caps.name("n") {
                Some(n) => Verdict::Edit(Edit::new(n.start(), n.end(), NAME)),
                None => Verdict::Retry,
            },
        ),
        Rule::check(
            "name",
            Personal,
            &format!(
                r"(?P<g>(?:{GIVEN}))\.?[ _.-](?P<s>(?:van |von |de |di |da |del |le |la |O')?[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+(?:-[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+)?)"
            ),
            name,
        ),
        Rule::check(
            "date-of-birth",
            Personal,
            concat!(
                r"(?i)\b(?:born(?:[ \t]+on)?|date[ \t]+of[ \t]+birth|birth[ \t]?date|birthday|d\.?o\.?b\.?|geb\.|geboren(?:[ \t]+am)?",
                r"|n[ée]e?[ \t]+le|fecha[ \t]+de[ \t]+nacimiento|data[ \t]+di[ \t]+nascita|geburtsdatum)[ \t]*[:=]?[ \t]*",
                r"(?P<v>[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{1,2}[./-][0-9]{1,2}[./-][0-9]{2,4}",
                r"|[0-9]{1,2}\.?[ \t]+[A-Za-z\x{80}-\x{10FFFF}]{3,9}\.?[ \t]+[0-9]{4}",
                r"|[A-Za-z\x{80}-\x{10FFFF}]{3,9}\.?[ \t]+[0-9]{1,2}(?:st|nd|rd|th)?,?[ \t]+[0-9]{4})"
            ),
            |_, caps| match caps.name("v") {
                Some(v) => Verdict::Edit(Edit::new(v.start(), v.end(), "<redacted>")),
                None => Verdict::Retry,
            },
        ),
        Rule::check(
            "passport",
            Personal,
            concat!(
                r"(?i)\b(?:passport|reisepass|passeport|pasaporte|passaporto|paspoort)",
                r"(?:[ \t]*(?:number|no\.?|nr\.?|num(?:ber)?|n°|#|id))?[ \t]*[:=#]?[ \t]*(?P<v>[A-Z0-9]{6,10})\b"
            ),
            |_, caps| match caps.name("v") {
                Some(v) if v.as_str().bytes().any(|b| b.is_ascii_digit()) => {
                    Verdict::Edit(Edit::new(v.start(), v.end(), "<national-id>"))
                }
                Some(v) => Verdict::Resume(v.end()),
                None => Verdict::Retry,
            },
        ),
        Rule::whole(
            "passport-mrz",
            Personal,
            concat!(
                r"\bP[A-Z<][A-Z<]{3}[A-Z]+<<[A-Z<]{3,}",
                r"|\b[A-Z0-9<]{9}[0-9][A-Z<]{3}[0-9]{6}[0-9][MFX<][0-9]{6}[0-9][A-Z0-9<]{14}[0-9<]?[0-9]\b"
            ),
            "<national-id>",
        ),
    ]
}

/// The start of the one or two capitalised words that end at byte `end` (`Anna`,
/// `Anna Schmidt`), looking back at most 48 bytes.
fn name_before(hay: &str, end: usize) -> Option<usize> {
    let word_start = |to: usize| -> Option<usize> {
        let head = &hay[..to];
        let mut start = to;
        for (i, c) in head.char_indices().rev().take(24) {
            if c.is_alphabetic() {
                start = i;
            } else {
                break;
            }
        }
        let first = hay[start..to].chars().next()?;
        let glued = prev_char(hay, start).is_some_and(|c| is_word(c) || c.is_alphabetic());
        (first.is_uppercase() && start < to && !glued).then_some(start)
    };
    let start = word_start(end)?;
    // A capitalised word before it, after one blank, is the given name.
    if hay[..start].ends_with(' ') {
        if let Some(s) = word_start(start - 1) {
            return Some(s);
        }
    }
    Some(start)
}

fn owner(hay: &str, caps: &Captures<'_>) -> Verdict {
    let (Some(m), Some(p)) = (caps.get(0), caps.name("p")) else {
        return Verdict::Retry;
    };
    const NOT_OWNERS: &[&str] = &[
        "User", "Users", "Owner", "Device", "Someone", "Somebody", "Everyone", "Guest", "Work",
        "Company", "Family", "Kid", "Kids", "Child", "Mom", "Dad", "Admin", "Test", "Today", "The",
        "This", "That", "My", "Your", "Our", "Its",
    ];
    // The name ends where the possessive starts (`Anna's`, `Anna’s`, German `Annas`).
    let end = p.start();
    let Some(start) = name_before(hay, end) else {
        return Verdict::Resume(m.end());
    };
    let first = hay[start..end].split(' ').next().unwrap_or("");
    if NOT_OWNERS.contains(&first) || NOT_OWNERS.contains(&&hay[start..end]) {
        return Verdict::Resume(m.end());
    }
    Verdict::Edit(Edit::new(start, end, NAME))
}

fn name(hay: &str, caps: &Captures<'_>) -> Verdict {
    let (Some(m), Some(g), Some(s)) = (caps.get(0), caps.name("g"), caps.name("s")) else {
        return Verdict::Retry;
    };
    // Not inside a word (`Johnson` holds `John`), before or after.
    if prev_char(hay, g.start()).is_some_and(char::is_alphabetic)
        || next_char(hay, s.end()).is_some_and(char::is_alphabetic)
    {
        return Verdict::Resume(g.end());
    }
    let surname = s.as_str().rsplit(' ').next().unwrap_or("");
    if NOT_SURNAMES.contains(&surname) {
        return Verdict::Resume(g.end());
    }
    Verdict::Edit(Edit::new(m.start(), s.end(), NAME))
}

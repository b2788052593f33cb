//! Sentry Relay's PII test cases as a peer suite: the concrete inputs of relay-pii's own
//! tests, written here as data and run through `scrub` and `find_pii`. Relay's code is
//! not used; its test inputs and what its tests expect to be removed are.
//!
//! Sources (github.com/getsentry/relay), read at these commits:
//! - `relay-pii/src/builtin.rs` @ 04f135af4aae3c863552728f20ec42ab04a9d652 (tests of the
//!   built-in rules: ip, imei, mac, uuid, email, iban, creditcard, pemkey, urlauth,
//!   usssn, userpath);
//! - `relay-pii/src/convert.rs` @ 06e9b6cb625ccb08500a8e444bb88da795c19ffa (the legacy
//!   data-scrubbing tests ported from Sentry's Python suite: sensitive vars and cookies,
//!   query strings, cards, URLs, PEM keys, SSNs, MYSQL_PWD, authorization and API key
//!   headers, safe fields for tokens, bearer tokens, pair lists, full-match password
//!   keys) and their snapshots `relay-pii/src/snapshots/relay_pii__convert__tests__*.snap`;
//! - `relay-pii/src/processor.rs` @ c7d38a629b267006262dc146ae58eb28a20ee29e (original
//!   value, basic stripping, user-agent IP, span and breadcrumb data).
//!
//! Relay scrubs typed event fields; we scrub lines of text. A case's field and value
//! are written as the line a log would hold (`key=value`, `"key": "value"`, a header,
//! a query string). What Relay removes must be gone from our output; what Relay keeps
//! must come through unchanged. The agreed exceptions, each counted below:
//! - **checksum-invalid**: Relay's list of "valid" IBANs has randomised digits, so most
//!   fail the mod-97 check; we only take IBANs (and cards) whose check digits hold, so a
//!   count or an order number of that shape is kept. Decided per case by the test itself.
//! - **loopback**: `127.0.0.1` and `::1` identify nobody and say a lot when a connection
//!   fails; we keep them deliberately (Relay replaces them).
//! - **keys-only**: Relay also treats a *value* that contains a secret key name
//!   (`my_password`) as a secret and takes `$HOME/<dir>` for a user directory; we judge
//!   values by their shape and paths by their home-directory root.

use locus_privacy::{find_pii, scrub};

/// What Relay does with a case, and so what we must do.
#[derive(Debug, Clone, Copy)]
enum Want {
    /// Relay removes these fragments: they must be gone, and `find_pii` must see the line.
    Gone(&'static [&'static str]),
    /// Relay keeps the line: it must come through byte for byte.
    Kept,
    /// An agreed exception (see the module docs): only the invariants are checked.
    Exception(Reason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    ChecksumInvalid,
    Loopback,
    KeysOnly,
}

use Reason::*;
use Want::*;

const B: &str = "builtin.rs";
const C: &str = "convert.rs";
const P: &str = "processor.rs";
const I: &str = "issue 13 (Relay misses listed there)";

/// (source, input line, what must happen)
const CASES: &[(&str, &str, Want)] = &[
    // builtin.rs: test_ipv4, test_ipv6
    (B, "before 127.0.0.1 after", Exception(Loopback)),
    (B, "before ::1 after", Exception(Loopback)),
    (B, "[2001:0db8:85a3:0000:0000:8a2e:0370:7334]", Gone(&["2001:0db8", "7334"])),
    (B, "before 2001:0db8:85a3:0000:0000:8a2e:0370:7334 after", Gone(&["2001:0db8", "8a2e:0370"])),
    (B, "foo::1", Kept),
    // test_imei, test_mac, test_uuid, test_email
    (B, "before 356938035643809 after", Gone(&["356938035643809"])),
    (B, "ether 4a:00:04:10:9b:50", Gone(&["4a:00:04:10:9b:50"])),
    (B, "user id ceee0822-ed8f-4622-b2a3-789e73e75cd1", Gone(&["ceee0822"])),
    (B, "John Appleseed <john@appleseed.com>", Gone(&["john@appleseed.com"])),
    // test_iban_different_rules, test_iban_scrubbing_word_boundaries, test_invalid_iban_codes
    (B, "some iban: DE89370400440532013000!", Gone(&["DE89370400440532013000"])),
    (B, "fooNO9386011117945bar", Kept),
    (B, "some iban: NO938601111794!", Kept),
    (B, "some iban: RU0204452560040702810412345678901!", Gone(&["0204452560040702810412345678901"])),
    (B, "some iban: RU02044525600407028104123456789010!", Kept),
    (B, "some iban: N19386011117945!", Kept),
    // test_creditcard (4571234567890111 fails the Luhn check: see card_cases)
    // test_pemkey
    (
        B,
        "-----BEGIN EC PRIVATE KEY-----\nMIHbAgEBBEFbLvIaAaez3q0u6BQYMHZ28B7iSdMPPaODUMGkdorl3ShgTbYmzqGL\nfojr3jkJIxFS07AoLQpsawOFZipxSQHieaAHBgUrgQQAI6GBiQOBhgAEAdaBHsBo\nHdmUCGvfKiF2CodxyLon1XkK8pX+Ap86MbJhluqK\n-----END EC PRIVATE KEY-----",
        Gone(&["MIHbAgEBBEFbLvIaAaez3q0u6BQYMHZ28B7iSdMPPaODUMGkdorl3ShgTbYmzqGL", "HdmUCGvfKiF2CodxyLon1XkK8pX"]),
    ),
    // test_urlauth, test_usssn
    (B, "https://username:password@example.com/", Gone(&["username:password"])),
    (B, "Hi I'm Hilda and my SSN is 078-05-1120", Gone(&["078-05-1120"])),
    // test_userpath
    (B, "C:\\Users\\mitsuhiko\\Desktop", Gone(&["mitsuhiko"])),
    (B, "export PATH=$PATH:$HOME/collectd_exporter", Exception(KeysOnly)),
    (B, "File in /Users/mitsuhiko/Development/sentry-stripping", Gone(&["mitsuhiko"])),
    (B, "C:\\Windows\\Profiles\\Armin\\Temp", Gone(&["Armin"])),
    // convert.rs: sensitive_vars() as key=value, JSON, query string
    (C, "foo=bar", Kept),
    (C, "password=hello", Gone(&["hello"])),
    (C, "the_secret=hello", Gone(&["hello"])),
    (C, "a_password_here=hello", Gone(&["hello"])),
    (C, "api_key=secret_key", Gone(&["secret_key"])),
    (C, "apiKey=secret_key", Gone(&["secret_key"])),
    (C, "otp=otp_code", Gone(&["otp_code"])),
    (C, "two-factor=otp_code", Gone(&["otp_code"])),
    (C, "two_factor=otp_code", Gone(&["otp_code"])),
    (
        C,
        r#"{"foo": "bar", "password": "hello", "the_secret": "hello", "a_password_here": "hello", "api_key": "secret_key", "apiKey": "secret_key", "otp": "otp_code", "two-factor": "otp_code", "two_factor": "otp_code"}"#,
        Gone(&["hello", "secret_key", "otp_code"]),
    ),
    (C, "password: hello", Gone(&["hello"])),
    (C, "the_secret: hello", Gone(&["hello"])),
    // test_querystring_as_string, test_querystring_as_string_with_partials
    (
        C,
        "GET /x?foo=bar&password=hello&the_secret=hello&a_password_here=hello&api_key=secret_key",
        Gone(&["hello", "secret_key"]),
    ),
    (C, "GET /x?foo=bar&password&baz=bar", Kept),
    (C, "GET /x?foo=bar&password=&baz=bar", Kept),
    // test_sensitive_cookies: one header with every cookie; the names may stay, never a value alone
    (
        C,
        "Cookie: sentrysid=my sentrysid; sudo=my sudo; su=my su; session=my session; __session=my __session; sessionid=my sessionid; user_session=my user_session; symfony=my symfony; phpsessid=my phpsessid; csrf=my csrf; xsrf=my xsrf; _xsrf=my _xsrf; csrf-token=my csrf-token; xsrf_token=my  xsrf_token; fastcsrf=my fastcsrf; _iris_csrf=my _iris_csrf; _vercel_jwt=my _vercel_jwt",
        Gone(&["my sentrysid", "my session", "my csrf", "my _vercel_jwt", "my  xsrf_token"]),
    ),
    (C, "Cookie: not_sensitive=\"keep this\"", Gone(&["\"keep this\""])),
    (C, "http.request.header.cookie: session=foobar", Gone(&["foobar"])),
    // test_sanitize_credit_card*, test_does_not_sanitize_timestamp_looks_like_card
    (C, "378282246310005", Gone(&["378282246310005"])),
    (C, "6011111111111117", Gone(&["6011111111111117"])),
    (C, "4111111111111111", Gone(&["4111111111111111"])),
    (C, "5555555555554444", Gone(&["5555555555554444"])),
    (C, "1453843029218310", Kept),
    // test_sanitize_url_1..7
    (C, "pg://matt:pass@localhost/1", Gone(&["matt:pass"])),
    (C, "foo 'redis://redis:foo@localhost:6379/0' bar", Gone(&["redis:foo"])),
    (C, "'redis://redis:foo@localhost:6379/0'", Gone(&["redis:foo"])),
    (C, "foo redis://redis:foo@localhost:6379/0 bar", Gone(&["redis:foo"])),
    (C, "foo redis://redis:foo@localhost:6379/0 bar pg://matt:foo@localhost/1", Gone(&["redis:foo", "matt:foo"])),
    (C, "postgres:///path", Kept),
    (
        C,
        r#"{"a":"https://localhost","b":"foo@localhost","c":"pg://matt:pass@localhost/1","d":"lol"}"#,
        Gone(&["matt:pass"]),
    ),
    // test_sanitize_http_body
    (C, r#"{"email":"zzzz@gmail.com","password":"zzzzz"}"#, Gone(&["zzzz@gmail.com", "zzzzz\""])),
    // test_does_sanitize_{public,private,encrypted_private,rsa_private}_key
    (
        C,
        "-----BEGIN PUBLIC KEY-----\nMIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA6A6TQjlPyMurLh/igZY4\nizA9sJgeZ7s5+nGydO4AI9k33gcy2DObZuadWRMnDwc3uH/qoAPw/mo3KOcgEtxU\nxn02Yg0JTLgZEtUT3whwFm8CAwEAAQ==\n-----END PUBLIC KEY-----",
        Gone(&["MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA6A6TQjlPyMurLh", "xn02Yg0JTLgZEtUT3whwFm8CAwEAAQ=="]),
    ),
    (
        C,
        "-----BEGIN PRIVATE KEY-----\nMIIJRAIBADANBgkqhkiG9w0BAQEFAASCCS4wggkqAgEAAoICAQCoNFY4P+EeIXl0\nmLpO+i8uFqAaEFQ8ZX2VVpA13kNEHuiWXC3HPlQ+7G+O3XmAsO+Wf/xY6pCSeQ8h\n-----END PRIVATE KEY-----",
        Gone(&["MIIJRAIBADANBgkqhkiG9w0BAQEFAASCCS4wggkqAgEAAoICAQCoNFY4P", "mLpO+i8uFqAaEFQ8ZX2VVpA13kNEHuiWXC3HPlQ"]),
    ),
    (
        C,
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIJjjBABgkqhkiG9w0BBQ0wMzAbBgkqhkiG9w0BBQwwDgQIWVhErdQOFVoCAggA\nIrlYQUV1ig4U3viYh1Y8viVvRlANKICvgj4faYNH36UterkfDjzMonb/cXNeJEOS\nPSk=\n-----END ENCRYPTED PRIVATE KEY-----",
        Gone(&["MIIJjjBABgkqhkiG9w0BBQ0wMzAbBgkqhkiG9w0BBQwwDgQIWVhErdQOFVoCAggA", "PSk="]),
    ),
    (
        C,
        "-----BEGIN RSA PRIVATE KEY-----\n+wn9Iu+zgamKDUu22xc45F2gdwM04rTITlZgjAs6U1zcvOzGxk8mWJD5MqFWwAtF\nzN87YGV0VMTG6ehxnkI4Fg6i0JPU3QIDAQABAoICAQCoCPjlYrODRU+vd2YeU/gM\n-----END RSA PRIVATE KEY-----",
        Gone(&["+wn9Iu+zgamKDUu22xc45F2gdwM04rTITlZgjAs6U1zcvOzGxk8mWJD5MqFWwAtF"]),
    ),
    // test_does_sanitize_social_security_number, test_exclude_fields_on_field_name
    (C, "123-45-6789", Gone(&["123-45-6789"])),
    (C, "password=123-45-6789", Gone(&["123-45-6789"])),
    // test_should_have_mysql_pwd_as_a_default_1/2
    (C, r#"{"MYSQL_PWD": "the one"}"#, Gone(&["the one"])),
    (C, r#"{"mysql_pwd": "the one"}"#, Gone(&["the one"])),
    // test_authorization_scrubbing
    (C, "authorization=foobar", Gone(&["foobar"])),
    (C, "auth=foobar", Gone(&["foobar"])),
    (C, "auXth=foobar", Kept),
    // test_api_key_header_scrubbing
    (C, "x-api-key: sk-ant-secret-value", Gone(&["sk-ant-secret-value"])),
    (C, "api-key: secret-value", Gone(&["secret-value"])),
    (C, "api_key=secret-value", Gone(&["secret-value"])),
    (C, "apikey=secret-value", Gone(&["secret-value"])),
    (C, "X-Api-Key: secret-value", Gone(&["secret-value"])),
    // test_doesnt_scrub_not_scrubbed
    (C, "is_authenticated=foobar", Kept),
    (C, "is_authenticated=null", Kept),
    (C, "is_authenticated=true", Kept),
    // test_csp_blocked_uri (card is Luhn-invalid: see card_cases), test_breadcrumb_message
    (C, "SELECT session_key FROM django_session WHERE session_key = 'abcdefg'", Gone(&["abcdefg"])),
    // test_safe_fields_for_token (github_token, access_token, stripetoken are Relay's
    // configured safe fields there, so either outcome is fine for them)
    (C, "password=foo", Gone(&["foo"])),
    (C, "my-token=secret", Gone(&["=secret"])),
    (C, "new_token=hidden", Gone(&["hidden"])),
    (C, "secret-token-here=ops", Gone(&["ops"])),
    // test_scrub_object (flattened), test_bearer_tokens_scrubbed
    (C, r#"{"password": "test", "email": "testing@example.com", "submit": "Se connecter"}"#, Gone(&["\"test\"", "testing@example.com"])),
    (C, "AuthToken: b'Bearer A1BBC234QWERTY0987MNBV012765HJKL'", Gone(&["A1BBC234QWERTY0987MNBV012765HJKL"])),
    // test_pairlist_scrubbed_with_matching_keys / _values
    (C, "secret: A1BBC234QWERTY0987MNBV012765HJKL", Gone(&["A1BBC234QWERTY0987MNBV012765HJKL"])),
    (C, "passwd: my_password", Gone(&["my_password"])),
    (C, "some_random_value: my_password", Exception(KeysOnly)),
    (C, "some_random_value_2: abc", Kept),
    // test_replace_fields_applies_to_span_data / _attributes
    (C, "Buy me a drink with my creditcard 4111-1111-1111-1111", Gone(&["4111-1111-1111-1111"])),
    (C, "Contact me at user@example.com or use card 4111-1111-1111-1111", Gone(&["user@example.com", "4111-1111-1111-1111"])),
    (C, "My email is test@domain.com and I accept payments", Gone(&["test@domain.com"])),
    // test_password_rule_only_full_match_fields
    (C, "not-a-two-factor=I am okay", Kept),
    (C, "not_a_two_factor=I am okay", Kept),
    (C, "footpath=I am okay", Kept),
    (C, "idiotproof=I am okay", Kept),
    // test_ip_stripped, test_user
    (C, "73.133.27.120", Gone(&["73.133.27.120"])),
    (C, "username=secret ip_address=73.133.27.120", Gone(&["73.133.27.120"])),
    // test_event_message_not_strippable, test_debug_meta_files_not_strippable
    (C, "hello world!", Kept),
    (C, "foo/bar.txt", Kept),
    (C, "C:\\Windows\\BogusValue\\foo.txt", Kept),
    // processor.rs: test_scrub_original_value, test_basic_stripping, test_ignore_user_agent_ip_scrubbing
    (P, "hey  man 73.133.27.120", Gone(&["73.133.27.120"])),
    (P, "is this an ip address? 73.133.27.120", Gone(&["73.133.27.120"])),
    (P, "Hello world!", Kept),
    (P, "SECRET_KEY=134141231231231231231312", Gone(&["134141231231231231231312"])),
    (P, "Cookie: super secret", Gone(&["super secret"])),
    (P, "X-Forwarded-For: 127.0.0.1", Exception(Loopback)),
    (P, "X-Client-Ip: 10.0.0.1", Gone(&["10.0.0.1"])),
    // test_scrub_span_data_http_*, test_scrub_breadcrumb_data_*
    (P, "dance=true", Kept),
    (P, "ccnumber=5105105105105100&process_id=123", Gone(&["5105105105105100"])),
    (P, "ccnumber=5105105105105100,process_id=123", Gone(&["5105105105105100"])),
    // The remaining misses issue 13 lists from the snapshots (compound names and token
    // headers, also in query strings).
    (I, "foo-token-bar=xyz", Gone(&["xyz"])),
    (I, "X-Token: abcd", Gone(&["abcd"])),
    (I, "Token: abcd", Gone(&["abcd"])),
    (I, "GET /cb?foo-token-bar=xyz&the_secret=hello&two-factor=123456&auth=foobar", Gone(&["xyz", "hello", "123456", "foobar"])),
];

/// builtin.rs test_valid_iban_codes: "Randomized the digits in case of PII" (and the
/// Norwegian example of the word-boundary tests, whose last digit differs from the
/// registry's `NO9386011117947`), so each
/// one is checked here: a valid checksum must be scrubbed, an invalid one is an
/// agreed exception.
const IBANS: &[&str] = &[
    // test_iban_scrubbing_word_boundaries, test_invalid_iban_codes ("valid_norwegian_iban")
    "NO9386011117945",
    "AD5878942710639732891555",
    "AE843009416531083386439",
    "AL57203331634841980876917055",
    "AT894962316580861740",
    "AZ20NABZ32222583861167817527",
    "BA899087481698693720",
    "BE02622338508282",
    "BG74BNBG62683163859900",
    "BH94BMAG81742510166411",
    "BR6012720184945313263694220C2",
    "BY42NBRB5423804338230Z59AB39",
    "CH9094408966251267229",
    "CR66628293047983395760",
    "CY07828977709558493944217267",
    "CZ3250044769520155043487",
    "DE33286483480880127754",
    "DK0104500396509359",
    "DO00BAGR96761901498775724456",
    "EE270648064710638158",
    "EG690300132939956610501715864",
    "ES1855993856250575846003",
    "FI1536654201409964",
    "FO7570156750217051",
    "FR1014777374033381713M74535",
    "GB24NWBK56308374074647",
    "GE73NB0994186171721443",
    "GI49NWBK125988332328154",
    "GL9054108607699188",
    "GR5565802405556734747216550",
    "GT99TRAJ50683085639204647556",
    "HR6800577821254763445",
    "HU40379712415496584277966835",
    "IE81AIBK65375754273298",
    "IL273293887744694290805",
    "IQ81NBIQ089246287424886",
    "IS781608418318734844854556",
    "IT53X5801219709784172710195",
    "JO61CBJO9436591471899095231319",
    "KW43CBKU4883997798760620316108",
    "KZ51056KZT0837966427",
    "LB33882243832059959713929005",
    "LC66HEMM254988987389111701748958",
    "LI29737657519298857AA",
    "LT274687648772993442",
    "LU366704963860370207",
    "LV56BANK7310410483037",
    "LY14487832647995492999076",
    "MC6264639373071228615685245",
    "MD21AG907990943540501824",
    "ME03582335388820811523",
    "MK23858890780702871",
    "MR9327063831155222861023437",
    "MT51MALT379454641617MTLCAST058S",
    "MU03BOMM4322185029224038400MUR",
    "NL96ABNA5744731632",
    "NO9058068238671",
    "PK25SCBL8656172440308193",
    "PL12349940962957508091419645",
    "PS76PALS166923702872903852485",
    "PT14459770251588993280123",
    "QA18DOHB89519772639156ABCDEFG",
    "RO17AAAA6B92357725591367",
    "RS15219225977278176022",
    "SA5110364369768070892889",
    "SC23SSCB28695826925340049496USD",
    "SE1264086862739970624960",
    "SI02570384665487060",
    "SK8246443378900295468504",
    "SM58U9584120480537549943122",
    "SV18CENR54739364351768235550",
    "TL666057100094711717888",
    "TN9055668722925051026777",
    "TR685596983808399006011173",
    "UA660626845659376320141789664",
    "VA02458628330591922762",
    "VG84VPVG5177475162070855",
    "XK074179726503194891",
];

/// Card numbers from builtin.rs test_creditcard, convert.rs
/// test_sanitize_credit_card(_within_value_1/2) and test_csp_blocked_uri; each is
/// checked with Luhn here, like the IBANs.
const CARDS: &[&str] = &[
    "John Appleseed 4571234567890111!",
    "John Appleseed 4571 2345 6789 0111!",
    "4571234567890111",
    "'4571234567890111'",
    "foo 4571234567890111",
    "https://example.com/?foo=4571234567890111&bar=baz",
];

fn iban_valid(s: &str) -> bool {
    let b = s.as_bytes();
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = char::from(c).to_digit(36).unwrap_or(0);
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn luhn_valid(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn all_cases() -> Vec<(String, String, Want)> {
    let mut cases: Vec<(String, String, Want)> = CASES
        .iter()
        .map(|(s, i, w)| (s.to_string(), i.to_string(), *w))
        .collect();
    for iban in IBANS {
        let want = if iban_valid(iban) {
            Gone(&[])
        } else {
            Exception(ChecksumInvalid)
        };
        cases.push((B.into(), format!("some iban: {iban}!"), want));
    }
    for card in CARDS {
        let digits: String = card.chars().filter(char::is_ascii_digit).collect();
        let want = if luhn_valid(&digits) {
            Gone(&[])
        } else {
            Exception(ChecksumInvalid)
        };
        cases.push((B.into(), card.to_string(), want));
    }
    cases
}

#[test]
fn relay_cases_pass_with_the_agreed_exceptions() {
    let mut failures = Vec::new();
    let (mut gone, mut kept, mut exceptions) = (0, 0, Vec::new());
    for (source, input, want) in all_cases() {
        let out = scrub(&input);
        // The invariants hold for every case, exceptions included.
        if find_pii(&out).is_some() || scrub(&out) != out {
            failures.push(format!(
                "[{source}] not a clean fixed point: {input:?} -> {out:?}"
            ));
        }
        match want {
            Gone(fragments) => {
                gone += 1;
                // An IBAN or card found by its check digits: the digits must be gone.
                let digits: String = input.chars().filter(char::is_ascii_digit).collect();
                let whole_number_gone =
                    fragments.is_empty() && out.contains(&digits[digits.len().min(8)..]);
                let left: Vec<_> = fragments.iter().filter(|f| out.contains(*f)).collect();
                if find_pii(&input).is_none() || !left.is_empty() || whole_number_gone {
                    failures.push(format!(
                        "[{source}] not removed {left:?}: {input:?} -> {out:?}"
                    ));
                }
            }
            Kept => {
                kept += 1;
                if out != input {
                    failures.push(format!("[{source}] changed: {input:?} -> {out:?}"));
                }
            }
            Exception(reason) => exceptions.push((reason, input.clone(), out.into_owned())),
        }
    }
    let count = |r: Reason| exceptions.iter().filter(|(x, ..)| *x == r).count();
    eprintln!(
        "relay peer suite: {} cases, {gone} removed, {kept} kept, exceptions: {} checksum-invalid, {} loopback, {} keys-only",
        gone + kept + exceptions.len(),
        count(ChecksumInvalid),
        count(Loopback),
        count(KeysOnly)
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The exceptions are exactly the agreed ones (3 loopback, 2 keys-only; the
    // checksum-invalid count comes from Relay's randomised numbers).
    assert_eq!(count(Loopback), 3);
    assert_eq!(count(KeysOnly), 2);
    // Loopback stays loopback: the exception is that we keep it, nothing else.
    for (r, input, out) in &exceptions {
        if *r == Loopback {
            assert_eq!(input, out);
        }
    }
}

#[test]
fn cookie_values_never_outlive_their_names() {
    // Relay keeps `not_sensitive` and removes session cookies; we remove the whole header
    // value. Never the reverse: the name gone and the value left.
    for line in [
        "Cookie: not_sensitive=\"keep this\"",
        "Cookie: session=\"abc def\"; theme=dark",
        "> cookie: a=\"b\"",
    ] {
        let out = scrub(line);
        assert!(!out.contains("<secret>\""), "{out}");
        assert!(
            !out.contains("keep this") && !out.contains("abc def"),
            "{out}"
        );
    }
}

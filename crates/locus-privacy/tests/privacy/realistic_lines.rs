//! The filter on a table of realistic log lines of a location-tracking app (GPS fixes,
//! sync errors with S3 URLs, battery, HTTP errors, panics with file paths, JSON
//! payloads, NMEA dumps, map links, auth headers...), one or more lines for every
//! category the filter must remove, and lines that must come through unchanged. Each
//! line's exact output is asserted, so both what goes and what stays are checked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::borrow::Cow;

use locus_privacy::{find_pii, scrub, LineScrubber};

/// A line that must come through unchanged.
const fn same(line: &'static str) -> (&'static str, &'static str) {
    (line, line)
}

/// (input, expected output)
const LINES: &[(&str, &str)] = &[
    // Decimal coordinate pairs: comma, space, semicolon, brackets, parentheses.
    (
        "2026-11-27T08:15:02.114Z INFO  locus::gps: fix 52.520008, 13.404954 acc=4.5m speed=1.2m/s sats=9",
        "2026-11-27T08:15:02.114Z INFO  locus::gps: fix <location> acc=4.5m speed=1.2m/s sats=9",
    ),
    (
        "2026-11-27T08:15:03.120Z DEBUG locus::gps: raw fix (52.520008 13.404954) hdop=0.9 age=120ms",
        "2026-11-27T08:15:03.120Z DEBUG locus::gps: raw fix (<location>) hdop=0.9 age=120ms",
    ),
    (
        "2026-11-27T08:15:04.002Z DEBUG locus::export: bbox [13.4,52.5] to [13.5,52.6]",
        "2026-11-27T08:15:04.002Z DEBUG locus::export: bbox [<location>] to [<location>]",
    ),
    (
        "2026-11-27T08:15:05.310Z INFO  locus::gps: fix -33.8688;151.2093 provider=fused",
        "2026-11-27T08:15:05.310Z INFO  locus::gps: fix <location> provider=fused",
    ),
    (
        "2026-11-27T08:15:06.000Z DEBUG locus::gps: Location[fused 52.520008,13.404954 hAcc=5.0 et=+1d2h mock]",
        "2026-11-27T08:15:06.000Z DEBUG locus::gps: Location[fused <location> hAcc=5.0 et=+1d2h mock]",
    ),
    (
        "2026-11-27T08:15:07.000Z DEBUG locus::gps: <+52.52000800,+13.40495400> +/- 5.00m (speed 0.00 mps / course -1.00)",
        "2026-11-27T08:15:07.000Z DEBUG locus::gps: <<location>> +/- 5.00m (speed 0.00 mps / course -1.00)",
    ),
    (
        "2026-11-27T08:15:08.000Z WARN  locus::gps: jump detected from 48.858370, 2.294481 to 48.860611, 2.337644 in 1.0s",
        "2026-11-27T08:15:08.000Z WARN  locus::gps: jump detected from <location> to <location> in 1.0s",
    ),
    // lat/lon keys in text and JSON.
    (
        "2026-11-27T08:15:09.000Z DEBUG locus::geo: lat=52.520008 lon=13.404954 alt=34.5",
        "2026-11-27T08:15:09.000Z DEBUG locus::geo: lat=<location> lon=<location> alt=34.5",
    ),
    (
        "2026-11-27T08:15:10.000Z DEBUG locus::geo: lat: 52.52, lng: 13.405",
        "2026-11-27T08:15:10.000Z DEBUG locus::geo: lat: <location>, lng: <location>",
    ),
    (
        "{\"ts\":\"2026-11-27T08:15:11Z\",\"lat\": 52.52, \"lng\": 13.405, \"accuracy\": 5.0, \"battery\": 87}",
        "{\"ts\":\"2026-11-27T08:15:11Z\",\"lat\": \"<location>\", \"lng\": \"<location>\", \"accuracy\": 5.0, \"battery\": 87}",
    ),
    (
        "{\"location\":{\"latitude\":\"52.520008\",\"longitude\":\"13.404954\"},\"provider\":\"gps\"}",
        "{\"location\":{\"latitude\":\"<location>\",\"longitude\":\"<location>\"},\"provider\":\"gps\"}",
    ),
    (
        "2026-11-27T08:15:12.000Z DEBUG locus::android: Location(latitude=52.520008, longitude=13.404954, accuracy=12.0)",
        "2026-11-27T08:15:12.000Z DEBUG locus::android: Location(latitude=<location>, longitude=<location>, accuracy=12.0)",
    ),
    (
        "2026-11-27T08:15:13.000Z DEBUG locus::android: mLatitude=52.520008 mLongitude=13.404954 mAccuracy=4.0",
        "2026-11-27T08:15:13.000Z DEBUG locus::android: mLatitude=<location> mLongitude=<location> mAccuracy=4.0",
    ),
    // geo: URIs and map links.
    (
        "2026-11-27T08:15:14.000Z INFO  locus::share: opened geo:52.52,13.405;u=35",
        "2026-11-27T08:15:14.000Z INFO  locus::share: opened <location>",
    ),
    (
        "2026-11-27T08:15:15.000Z INFO  locus::share: intent geo:0,0?q=52.52,13.405(Home)",
        "2026-11-27T08:15:15.000Z INFO  locus::share: intent <location>",
    ),
    (
        "2026-11-27T08:15:16.000Z INFO  locus::share: link https://www.google.com/maps/@52.5200066,13.404954,15z",
        "2026-11-27T08:15:16.000Z INFO  locus::share: link https://www.google.com/maps/<location>",
    ),
    (
        "2026-11-27T08:15:17.000Z INFO  locus::share: link https://maps.google.com/?q=52.52,13.405",
        "2026-11-27T08:15:17.000Z INFO  locus::share: link https://maps.google.com/<location>",
    ),
    (
        "2026-11-27T08:15:18.000Z INFO  locus::share: link https://www.openstreetmap.org/?mlat=52.52&mlon=13.405#map=15/52.52/13.405",
        "2026-11-27T08:15:18.000Z INFO  locus::share: link https://www.openstreetmap.org/<location>",
    ),
    (
        "2026-11-27T08:15:19.000Z INFO  locus::share: link https://maps.apple.com/?ll=52.52,13.405&q=Home",
        "2026-11-27T08:15:19.000Z INFO  locus::share: link https://maps.apple.com/<location>",
    ),
    (
        "2026-11-27T08:15:20.000Z DEBUG locus::tiles: GET https://tiles.example.com/v1/render?ll=52.52,13.405&z=15 -> 200 in 84ms",
        "2026-11-27T08:15:20.000Z DEBUG locus::tiles: GET https://tiles.example.com/v1/render?ll=<location>&z=15 -> 200 in 84ms",
    ),
    // WKT and GeoJSON.
    (
        "2026-11-27T08:15:21.000Z DEBUG locus::db: INSERT geom=POINT(13.404954 52.520008) ok",
        "2026-11-27T08:15:21.000Z DEBUG locus::db: INSERT geom=POINT(<location>) ok",
    ),
    (
        "2026-11-27T08:15:22.000Z DEBUG locus::db: INSERT geom=SRID=4326;POINT Z (13.4 52.5 34.0) ok",
        "2026-11-27T08:15:22.000Z DEBUG locus::db: INSERT geom=SRID=4326;POINT Z (<location>) ok",
    ),
    (
        "2026-11-27T08:15:23.000Z DEBUG locus::db: track LINESTRING(13.40 52.52, 13.41 52.53) simplified 120 -> 2 points",
        "2026-11-27T08:15:23.000Z DEBUG locus::db: track LINESTRING(<location>) simplified 120 -> 2 points",
    ),
    (
        "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":[13.404954,52.520008]},\"properties\":{\"speed\":1.2}}",
        "{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":\"<location>\"},\"properties\":{\"speed\":1.2}}",
    ),
    (
        "{\"type\":\"LineString\",\"coordinates\":[[13.4049,52.5200],[13.4051,52.5202]]}",
        "{\"type\":\"LineString\",\"coordinates\":\"<location>\"}",
    ),
    // Degrees-minutes-seconds.
    (
        "2026-11-27T08:15:24.000Z INFO  locus::import: waypoint 52°31'12.0\"N 13°24'17.8\"E",
        "2026-11-27T08:15:24.000Z INFO  locus::import: waypoint <location> <location>",
    ),
    (
        "2026-11-27T08:15:25.000Z INFO  locus::import: waypoint 52 31 12 N 13 24 17 E",
        "2026-11-27T08:15:25.000Z INFO  locus::import: waypoint <location> <location>",
    ),
    (
        "2026-11-27T08:15:26.000Z INFO  locus::import: waypoint N 52° 31.200' E 13° 24.283'",
        "2026-11-27T08:15:26.000Z INFO  locus::import: waypoint <location> <location>",
    ),
    // NMEA sentences.
    (
        "2026-11-27T08:15:27.000Z DEBUG locus::nmea: $GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
        "2026-11-27T08:15:27.000Z DEBUG locus::nmea: <location>",
    ),
    (
        "2026-11-27T08:15:28.000Z DEBUG locus::nmea: $GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A",
        "2026-11-27T08:15:28.000Z DEBUG locus::nmea: <location>",
    ),
    (
        "2026-11-27T08:15:29.000Z DEBUG locus::nmea: $GNGLL,4807.038,N,01131.000,E,123519,A*1C",
        "2026-11-27T08:15:29.000Z DEBUG locus::nmea: <location>",
    ),
    (
        "$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74",
        "<location>",
    ),
    // E7 integers.
    (
        "2026-11-27T08:15:30.000Z DEBUG locus::takeout: {\"latitudeE7\": 525200080, \"longitudeE7\": 134049540, \"accuracy\": 20}",
        "2026-11-27T08:15:30.000Z DEBUG locus::takeout: {\"latitudeE7\": \"<location>\", \"longitudeE7\": \"<location>\", \"accuracy\": 20}",
    ),
    (
        "2026-11-27T08:15:31.000Z DEBUG locus::takeout: lat_e7=525200080 lng_e7=134049540",
        "2026-11-27T08:15:31.000Z DEBUG locus::takeout: lat_e7=<location> lng_e7=<location>",
    ),
    // E-mail addresses and phone numbers.
    (
        "2026-11-27T08:15:32.000Z INFO  locus::account: signed in as alice.smith+locus@example.com",
        "2026-11-27T08:15:32.000Z INFO  locus::account: signed in as <email>",
    ),
    (
        "2026-11-27T08:15:33.000Z WARN  locus::account: password reset requested for bob@mail.example.co.uk (attempt 2/3)",
        "2026-11-27T08:15:33.000Z WARN  locus::account: password reset requested for <email> (attempt 2/3)",
    ),
    (
        "2026-11-27T08:15:34.000Z INFO  locus::support: contact phone +49 30 1234567 or +1 (415) 555-0132",
        "2026-11-27T08:15:34.000Z INFO  locus::support: contact phone <phone> or <phone>",
    ),
    (
        "2026-11-27T08:15:35.000Z INFO  locus::support: callback (555) 123-4567, 555-123-4567, 030 12345678, 07700 900123",
        "2026-11-27T08:15:35.000Z INFO  locus::support: callback <phone>, <phone>, <phone>, <phone>",
    ),
    (
        "2026-11-27T08:15:36.000Z INFO  locus::support: dial 0044 20 7946 0958 or tel:+4930123456",
        "2026-11-27T08:15:36.000Z INFO  locus::support: dial <phone> or tel:<phone>",
    ),
    // IP and MAC addresses (loopback and unspecified kept).
    (
        "2026-11-27T08:15:37.000Z DEBUG locus::net: connect 192.168.1.23:443 from 10.0.0.7 failed: connection refused (os error 111)",
        "2026-11-27T08:15:37.000Z DEBUG locus::net: connect <ip>:443 from <ip> failed: connection refused (os error 111)",
    ),
    (
        "2026-11-27T08:15:38.000Z DEBUG locus::net: resolved s3.eu-central-1.amazonaws.com to 2001:db8::8a2e:370:7334",
        "2026-11-27T08:15:38.000Z DEBUG locus::net: resolved s3.eu-central-1.amazonaws.com to <ip>",
    ),
    (
        "2026-11-27T08:15:39.000Z DEBUG locus::net: link-local fe80::1ff:fe23:4567:890a%wlan0 up",
        "2026-11-27T08:15:39.000Z DEBUG locus::net: link-local <ip> up",
    ),
    same("2026-11-27T08:15:40.000Z DEBUG locus::net: server listening on 127.0.0.1:8080 and [::1]:8080 and 0.0.0.0:9090"),
    (
        "2026-11-27T08:15:41.000Z DEBUG locus::net: wifi bssid 00:1A:2B:3C:4D:5E rssi -61 dBm",
        "2026-11-27T08:15:41.000Z DEBUG locus::net: wifi bssid <mac> rssi -61 dBm",
    ),
    (
        "2026-11-27T08:15:42.000Z DEBUG locus::ble: paired with aa-bb-cc-dd-ee-ff battery 80%",
        "2026-11-27T08:15:42.000Z DEBUG locus::ble: paired with <mac> battery 80%",
    ),
    // IMEI, payment cards, IBAN, national ids.
    (
        "2026-11-27T08:15:43.000Z INFO  locus::device: imei 490154203237518 model Pixel 8 android 14",
        "2026-11-27T08:15:43.000Z INFO  locus::device: imei <imei> model Pixel 8 android 14",
    ),
    (
        "2026-11-27T08:15:44.000Z INFO  locus::device: IMEI: 35-209900-176148-1",
        "2026-11-27T08:15:44.000Z INFO  locus::device: IMEI: <imei>",
    ),
    (
        "2026-11-27T08:15:45.000Z WARN  locus::billing: card 4111 1111 1111 1111 declined (HTTP 402)",
        "2026-11-27T08:15:45.000Z WARN  locus::billing: card <card> declined (HTTP 402)",
    ),
    (
        "2026-11-27T08:15:46.000Z WARN  locus::billing: card 5555-5555-5555-4444 and amex 3782 822463 10005 rejected",
        "2026-11-27T08:15:46.000Z WARN  locus::billing: card <card> and amex <card> rejected",
    ),
    (
        "2026-11-27T08:15:47.000Z INFO  locus::billing: payout to DE89 3704 0044 0532 0130 00 scheduled",
        "2026-11-27T08:15:47.000Z INFO  locus::billing: payout to <iban> scheduled",
    ),
    (
        "2026-11-27T08:15:48.000Z INFO  locus::billing: payout to GB82WEST12345698765432 scheduled",
        "2026-11-27T08:15:48.000Z INFO  locus::billing: payout to <iban> scheduled",
    ),
    (
        "2026-11-27T08:15:49.000Z DEBUG locus::kyc: ssn 078-05-1120 verified",
        "2026-11-27T08:15:49.000Z DEBUG locus::kyc: ssn <national-id> verified",
    ),
    (
        "2026-11-27T08:15:50.000Z DEBUG locus::kyc: nino AB123456C dni 12345678Z cpf 123.456.789-09",
        "2026-11-27T08:15:50.000Z DEBUG locus::kyc: nino <national-id> dni <national-id> cpf <national-id>",
    ),
    // User names in home-directory paths.
    (
        "thread 'main' panicked at /home/alice/src/locus/src/sync/s3.rs:123:5:",
        "thread 'main' panicked at /home/<user>/src/locus/src/sync/s3.rs:123:5:",
    ),
    (
        "thread 'locus-telemetry' panicked at /Users/bob/dev/locus/crates/locus-telemetry/src/dispatch.rs:88:14:",
        "thread 'locus-telemetry' panicked at /Users/<user>/dev/locus/crates/locus-telemetry/src/dispatch.rs:88:14:",
    ),
    (
        "2026-11-27T08:15:51.000Z ERROR locus::fs: cannot open C:\\Users\\Carol Smith\\AppData\\Local\\locus\\tracks.db: access denied",
        "2026-11-27T08:15:51.000Z ERROR locus::fs: cannot open C:\\Users\\<user>\\AppData\\Local\\locus\\tracks.db: access denied",
    ),
    (
        "2026-11-27T08:15:52.000Z ERROR locus::fs: {\"path\":\"C:\\\\Users\\\\dave\\\\AppData\\\\Roaming\\\\locus\\\\settings.json\",\"err\":\"not found\"}",
        "2026-11-27T08:15:52.000Z ERROR locus::fs: {\"path\":\"C:\\\\Users\\\\<user>\\\\AppData\\\\Roaming\\\\locus\\\\settings.json\",\"err\":\"not found\"}",
    ),
    (
        "2026-11-27T08:15:53.000Z DEBUG locus::import: reading file:///home/erin/Downloads/ride.gpx (2.4 MiB)",
        "2026-11-27T08:15:53.000Z DEBUG locus::import: reading file:///home/<user>/Downloads/ride.gpx (2.4 MiB)",
    ),
    // Bearer tokens, authorization and cookie headers, credentials in URLs, query secrets, bucket names.
    (
        "2026-11-27T08:15:54.000Z ERROR locus::sync: 401 Unauthorized, Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "2026-11-27T08:15:54.000Z ERROR locus::sync: 401 Unauthorized, Authorization: Bearer <secret>",
    ),
    (
        "2026-11-27T08:15:55.000Z DEBUG locus::http: > authorization: Basic YWxpY2U6aHVudGVyMg==",
        "2026-11-27T08:15:55.000Z DEBUG locus::http: > authorization: Basic <secret>",
    ),
    (
        "2026-11-27T08:15:56.000Z DEBUG locus::http: > Cookie: session=abc123def456; theme=dark",
        "2026-11-27T08:15:56.000Z DEBUG locus::http: > Cookie: <secret>",
    ),
    (
        "2026-11-27T08:15:57.000Z WARN  locus::sync::s3: PUT https://alice:hunter2@s3.example.com/locus-bucket/diagnostics/x.log.gz failed: HTTP 503",
        "2026-11-27T08:15:57.000Z WARN  locus::sync::s3: PUT https://<secret>@s3.example.com/locus-bucket/diagnostics/x.log.gz failed: HTTP 503",
    ),
    (
        "2026-11-27T08:15:58.000Z WARN  locus::sync::s3: GET https://locus-bucket.s3.amazonaws.com/diagnostics/2026/11/27/x.log.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261127%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261127T081558Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024 -> 403",
        "2026-11-27T08:15:58.000Z WARN  locus::sync::s3: GET https://<bucket>.s3.amazonaws.com/diagnostics/2026/11/27/x.log.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=<secret>&X-Amz-Date=20261127T081558Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=<id> -> 403",
    ),
    (
        "2026-11-27T08:15:59.000Z DEBUG locus::sync::s3: Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261127/eu-central-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
        "2026-11-27T08:15:59.000Z DEBUG locus::sync::s3: Authorization: AWS4-HMAC-SHA256 <secret>, SignedHeaders=host;x-amz-date, Signature=<id>",
    ),
    // AWS keys, passwords and other secrets in key=value form; status words are kept.
    (
        "2026-11-27T08:16:00.000Z ERROR locus::config: invalid credentials aws_access_key_id=AKIAIOSFODNN7EXAMPLE aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "2026-11-27T08:16:00.000Z ERROR locus::config: invalid credentials aws_access_key_id=<secret> aws_secret_access_key=<secret>",
    ),
    (
        "2026-11-27T08:16:01.000Z ERROR locus::config: env AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY region=eu-central-1",
        "2026-11-27T08:16:01.000Z ERROR locus::config: env AWS_SECRET_ACCESS_KEY=<secret> region=eu-central-1",
    ),
    (
        "2026-11-27T08:16:02.000Z DEBUG locus::config: db password=hunter2 passwd: s3cr3t pwd=\"correct horse\" api_key=abcdef123456",
        "2026-11-27T08:16:02.000Z DEBUG locus::config: db password=<secret> passwd: <secret> pwd=\"<secret>\" api_key=<secret>",
    ),
    (
        "2026-11-27T08:16:03.000Z DEBUG locus::config: {\"client_secret\": \"9f8e7d6c5b4a3210\", \"token\": \"tok_live_51Hx\", \"pin\": 1234}",
        "2026-11-27T08:16:03.000Z DEBUG locus::config: {\"client_secret\": \"<id>\", \"token\": \"<secret>\", \"pin\": \"<secret>\"}",
    ),
    same("2026-11-27T08:16:04.000Z INFO  locus::auth: token refreshed, token: expired, password=*** secret=[REDACTED]"),
    (
        "2026-11-27T08:16:05.000Z DEBUG locus::tiles: GET https://tiles.example.com/a.png?key=AIzaSyA-1234567890abcdefghijklmnopqrstu&sig=3f9a8b7c6d5e",
        "2026-11-27T08:16:05.000Z DEBUG locus::tiles: GET https://tiles.example.com/a.png?key=<secret>&sig=<secret>",
    ),
    (
        "2026-11-27T08:16:06.000Z DEBUG locus::cli: running locus-diag demo --password hunter2 --community http://127.0.0.1:9000",
        "2026-11-27T08:16:06.000Z DEBUG locus::cli: running locus-diag demo --password <secret> --community http://127.0.0.1:9000",
    ),
    // PEM blocks on one line, UUIDs, long hex ids, vendor tokens, personal keys.
    (
        "2026-11-27T08:16:07.000Z DEBUG locus::tls: loaded key -----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7-----END PRIVATE KEY----- ok",
        "2026-11-27T08:16:07.000Z DEBUG locus::tls: loaded key <secret> ok",
    ),
    (
        "2026-11-27T08:16:08.000Z DEBUG locus::tls: cert {\"pem\":\"-----BEGIN CERTIFICATE-----\\nMIIBszCCAVmgAwIBAgIUQz\\n-----END CERTIFICATE-----\\n\"}",
        "2026-11-27T08:16:08.000Z DEBUG locus::tls: cert {\"pem\":\"<secret>\\n\"}",
    ),
    (
        "2026-11-27T08:16:09.000Z INFO  locus::device: device_id=550e8400-e29b-41d4-a716-446655440000 install 7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "2026-11-27T08:16:09.000Z INFO  locus::device: device_id=<uuid> install <uuid>",
    ),
    (
        "2026-11-27T08:16:10.000Z DEBUG locus::crash: tombstone 3f2a9c0d1e4b5a6978812233aabbccdd written, pc 0x00007ffe5f3c2a10",
        "2026-11-27T08:16:10.000Z DEBUG locus::crash: tombstone <id> written, pc 0x00007ffe5f3c2a10",
    ),
    (
        "2026-11-27T08:16:11.000Z DEBUG locus::push: registered token ghp_16C7e42F292c6912E7710c838347Ae178B4a with xoxb-123456789012-abcdefghij",
        "2026-11-27T08:16:11.000Z DEBUG locus::push: registered token <secret> with <secret>",
    ),
    (
        "2026-11-27T08:16:12.000Z INFO  locus::account: user=alice username: \"Bob Smith\" email=carol@example.com",
        "2026-11-27T08:16:12.000Z INFO  locus::account: user=<user> username: \"<name>\" email=<email>",
    ),
    (
        "2026-11-27T08:16:13.000Z INFO  locus::wifi: connected ssid=\"Alice Home\" bssid=aa:bb:cc:11:22:33",
        "2026-11-27T08:16:13.000Z INFO  locus::wifi: connected ssid=\"<ssid>\" bssid=<mac>",
    ),
    // Lines that must come through unchanged: durations, versions, HTTP codes, percentages,
    // source locations, counts, sizes, log levels, module paths, timestamps.
    same("2026-11-27T08:16:14.000Z INFO  locus: starting Locus v1.2.0-beta.1 (build 456) on android 14, rustc 1.89.0"),
    same("2026-11-27T08:16:15.000Z INFO  locus::sync::s3: uploaded diagnostics/2026/11/27/dev_20261127T081615Z.log.gz (12.3 KiB) in 0.84s"),
    same("2026-11-27T08:16:16.000Z WARN  locus::sync::s3: PUT failed: HTTP 503 Slow Down, retry 1/2 in 250ms"),
    same("2026-11-27T08:16:17.000Z ERROR locus::sync: request timed out after 30s (attempt 2 of 2), breaker open for 6h"),
    same("2026-11-27T08:16:18.000Z INFO  locus::battery: level 87.5% charging=false temp 31.5°C voltage 3.85V drain 2.5 W"),
    same("2026-11-27T08:16:19.000Z DEBUG locus::recorder: ring 1048576 bytes, 3912 records, 0 lost, seq 1764205323123"),
    same("2026-11-27T08:16:20.000Z WARN  locus::db: slow query 1.25s at src/db/tracks.rs:210:9"),
    same("2026-11-27T08:16:21.000Z TRACE locus::gps::filter: kalman step dt=1.002s q=0.25 r=4.0 gain 0.52 0.48"),
    same("2026-11-27T08:16:22.000Z INFO  locus::gps: heading 270° bearing 45.5° altitude 34.5m"),
    same("2026-11-27T08:16:23.000Z DEBUG locus::stats: p50=12.345ms p99=56.789ms max=120.5ms n=1000"),
    same("E/AndroidRuntime(12345): FATAL EXCEPTION: main Process: app.locus, PID: 12345"),
    same("\tat app.locus.sync.S3Uploader.upload(S3Uploader.kt:88)"),
    same("I/Choreographer( 4321): Skipped 31 frames! The application may be doing too much work on its main thread."),
    same("GC freed 12345(678KB) AllocSpace objects, 0(0B) LOS objects, 49% free, 3MB/6MB, paused 1.234ms total 10.567ms"),
    same("2026-11-27T08:16:24.000Z INFO  locus::update: 1.1.9 -> 1.2.0 (ratio 1.5, 2.5 MB delta)"),
    same("2026-11-27T08:16:25.000Z INFO  locus::health: sessions exited=12 crashed=1 abnormal=0 period 24h"),
    same("2026-11-27 08:16:26,123 [main] INFO  locus.sync - retry after 2.5 s, HTTP 429 Too Many Requests"),
    same("2026-11-27T08:16:27.000Z DEBUG locus::sync::s3: lifecycle rule locus-diagnostics-expiry ok (30 days), 2 other rules kept"),
    same("2026-11-27T08:16:28.000Z ERROR locus::crash: signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0"),
    same("2026-11-27T08:16:29.000Z INFO  locus::gps: no fix yet, lat/lon unknown, 0 of 12 satellites"),
    // More mixed lines.
    same("2026-11-27T08:16:30.000Z DEBUG locus::http: < HTTP/1.1 200 OK, Content-Length: 1048576, Retry-After: 120"),
    (
        "2026-11-27T08:16:31.000Z DEBUG locus::http: > X-Api-Key: 9f8e7d6c5b4a, X-Request-Id: 42",
        "2026-11-27T08:16:31.000Z DEBUG locus::http: > X-Api-Key: <secret>, X-Request-Id: 42",
    ),
    (
        "2026-11-27T08:16:32.000Z DEBUG locus::auth: id_token eyJhbGciOiJSUzI1NiJ9.eyJlbWFpbCI6ImFAYi5jIn0.c2lnbmF0dXJlLXZhbHVl cached",
        "2026-11-27T08:16:32.000Z DEBUG locus::auth: id_token <secret> cached",
    ),
    (
        "2026-11-27T08:16:33.000Z DEBUG locus::nmea: GPRMC,081633,A,5231.2005,N,01324.2972,E,0.5,54.7,271126,,*2B",
        "2026-11-27T08:16:33.000Z DEBUG locus::nmea: <location>",
    ),
    (
        "2026-11-27T08:16:34.000Z INFO  locus::geocode: reverse geocode for 40.748817,-73.985428 took 312ms",
        "2026-11-27T08:16:34.000Z INFO  locus::geocode: reverse geocode for <location> took 312ms",
    ),
    same("2026-11-27T08:16:35.000Z INFO  locus::export: wrote 1234 points (56.7 KiB) to tracks/2026-11-27.gpx in 1.5s"),
    (
        "2026-11-27T08:16:36.000Z INFO  locus::gps: fix 52.5200° N, 13.4050° E",
        "2026-11-27T08:16:36.000Z INFO  locus::gps: fix <location>, <location>",
    ),
    (
        "2026-11-27T08:16:37.000Z WARN  locus::account: delete account for user_id=884213 requested",
        "2026-11-27T08:16:37.000Z WARN  locus::account: delete account for user_id=<user> requested",
    ),
    (
        "2026-11-27T08:16:38.000Z DEBUG locus::sync::s3: endpoint https://s3.eu-central-1.amazonaws.com bucket=locus-diag prefix=diagnostics/ path-style=true",
        "2026-11-27T08:16:38.000Z DEBUG locus::sync::s3: endpoint https://s3.eu-central-1.amazonaws.com bucket=<bucket> prefix=diagnostics/ path-style=true",
    ),
];

#[test]
fn table_is_large_and_keeps_some_lines_whole() {
    assert!(LINES.len() >= 100, "{} lines", LINES.len());
    let kept = LINES.iter().filter(|(i, o)| i == o).count();
    assert!(kept >= 20, "{kept} unchanged lines");
}

#[test]
fn every_line_is_scrubbed_as_expected() {
    let mut failures = Vec::new();
    for (input, expected) in LINES {
        let got = scrub(input);
        if got != *expected {
            failures.push(format!(
                "input:    {input}\nexpected: {expected}\ngot:      {got}\n"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} lines differ:\n\n{}",
        failures.len(),
        LINES.len(),
        failures.join("\n")
    );
}

#[test]
fn outputs_are_clean_and_stable() {
    for (input, expected) in LINES {
        assert_eq!(find_pii(expected), None, "{expected}");
        assert_eq!(scrub(expected), *expected, "not a fixed point: {expected}");
        assert_eq!(
            find_pii(input).is_some(),
            input != expected,
            "find_pii disagrees with scrub: {input}"
        );
    }
}

#[test]
fn unchanged_lines_are_borrowed() {
    for (input, _) in LINES.iter().filter(|(i, o)| i == o) {
        assert!(matches!(scrub(input), Cow::Borrowed(_)), "{input}");
    }
}

#[test]
fn the_whole_log_at_once_gives_the_same_lines() {
    for newline in ["\n", "\r\n"] {
        let log: Vec<&str> = LINES.iter().map(|(i, _)| *i).collect();
        let want: Vec<&str> = LINES.iter().map(|(_, o)| *o).collect();
        assert_eq!(scrub(&log.join(newline)), want.join(newline));
    }
}

#[test]
fn a_pem_block_over_several_lines_is_removed_whole() {
    let log = "2026-11-27T08:16:07.000Z DEBUG locus::tls: loading key\n\
               -----BEGIN RSA PRIVATE KEY-----\n\
               MIIEpAIBAAKCAQEA7bq3F6eXqv2bzx3t3GmLkR6JQ1o2p0m6dJ8l9GQ2k8dF0Z0x\n\
               Zk9yq1c\n\
               -----END RSA PRIVATE KEY-----\n\
               2026-11-27T08:16:08.000Z DEBUG locus::tls: key loaded in 3ms";
    let want = "2026-11-27T08:16:07.000Z DEBUG locus::tls: loading key\n\
                <secret>\n\
                <secret>\n\
                <secret>\n\
                <secret>\n\
                2026-11-27T08:16:08.000Z DEBUG locus::tls: key loaded in 3ms";
    assert_eq!(scrub(log), want);
    // The same, fed one line at a time.
    let mut s = LineScrubber::new();
    let streamed: Vec<String> = log.lines().map(|l| s.scrub_line(l).into_owned()).collect();
    assert_eq!(streamed.join("\n"), want);
    // A BEGIN marker with no body after it does not swallow the rest of the log.
    assert_eq!(
        scrub("-----BEGIN CERTIFICATE-----\nsync ok in 12ms"),
        "<secret>\nsync ok in 12ms"
    );
}

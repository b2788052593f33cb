//! The categories of issue 13 on realistic lines written for this suite (log lines,
//! panics, exception messages a location tracker produces): for every line with
//! something to remove, the fragments that must be gone; and benign lines that must come
//! through byte for byte (versions, program counters, `file.rs:line:col`, sizes,
//! durations, percentages, trace ids, ordinary English, Rust/Kotlin/Java panics).

use std::borrow::Cow;

use locus_privacy::{find_pii, scrub};

/// (line, fragments that must not survive)
const SCRUBBED: &[(&str, &[&str])] = &[
    // ---------------------------------------------------------------- grids and geocodes
    ("2026-11-27T08:20:01Z INFO  locus::share: plus code 9F4MGC2R+6X copied", &["9F4MGC2R+6X"]),
    ("2026-11-27T08:20:02Z DEBUG locus::geocode: resolved 8FVC9G8F+6W to street level", &["8FVC9G8F+6W"]),
    ("share text: Meet at 9G8F+6X Berlin", &["9G8F+6X"]),
    ("2026-11-27T08:20:03Z DEBUG locus::olc: short code GC2R+6X recovered against reference", &["GC2R+6X"]),
    ("olc=9f4mgc2r+6x precision=10", &["9f4mgc2r+6x"]),
    ("2026-11-27T08:20:04Z DEBUG locus::index: geohash=u33dc0cp bucket=3", &["u33dc0cp"]),
    ("{\"geohash\": \"u33db2\", \"count\": 12}", &["u33db2"]),
    ("cache key geohash u33dc0cp7k expired", &["u33dc0cp7k"]),
    ("point_geohash: gcpvj0duq", &["gcpvj0duq"]),
    ("2026-11-27T08:20:05Z INFO  locus::mil: MGRS 33UUU8964519874", &["8964519874"]),
    ("waypoint 33U UU 89645 19874 reached", &["89645 19874"]),
    ("grid ref 4QFJ12345678 (MGRS)", &["4QFJ12345678"]),
    ("2026-11-27T08:20:06Z INFO  locus::import: UTM 33U 389645 5819874", &["389645", "5819874"]),
    ("position 32N 500000mE 4649776mN from survey", &["4649776"]),
    ("ham: locator JO62qm logged", &["JO62qm"]),
    ("qth=JO62QM rst=599", &["JO62QM"]),
    ("station FN31pr on 14.074 MHz", &["FN31pr"]),
    ("2026-11-27T08:20:07Z INFO  locus::share: w3w ///filled.count.soap", &["filled.count.soap"]),
    ("opened https://what3words.com/index.home.raft", &["index.home.raft"]),
    ("w3w: ///gefüllt.zählen.seife", &["gefüllt.zählen.seife"]),
    ("2026-11-27T08:20:08Z DEBUG locus::heat: h3 cell 8a2a1072b59ffff count=4", &["8a2a1072b59ffff"]),
    ("h3_index=8928308280fffff res=9", &["8928308280fffff"]),
    ("{\"s2_cell\": \"47a84e5\", \"level\": 13}", &["47a84e5"]),
    ("s2cellid=5154075349427372032", &["5154075349427372032"]),
    ("S2CellId(5154075349427372032) loaded", &["5154075349427372032"]),
    // ---------------------------------------------------------------- tiles
    ("2026-11-27T08:20:09Z DEBUG locus::tiles: GET https://tile.openstreetmap.org/15/17602/10743.png -> 200 in 84ms", &["17602", "10743"]),
    ("tile cache miss /tiles/16/35205/21487@2x.png", &["35205", "21487"]),
    ("vector tile /v4/mapbox.mapbox-streets-v8/14/8801/5371.mvt failed: timeout", &["8801/5371"]),
    ("GET /wmts?layer=osm&z=17&x=70410&y=42975 304", &["70410", "42975"]),
    // ---------------------------------------------------------------- micro-degrees
    ("2026-11-27T08:20:10Z DEBUG locus::legacy: lat_e6=52490868 lon_e6=13404954", &["52490868", "13404954"]),
    ("location { lat: 524908677 lng: 134049540 }", &["524908677", "134049540"]),
    ("latitudeE6=52490868, longitudeE6=13404954", &["52490868", "13404954"]),
    ("mavlink GLOBAL_POSITION_INT lat=524908677 lon=134049540 alt=34500", &["524908677", "134049540"]),
    ("{\"latitude\": 524908677, \"longitude\": 134049540}", &["524908677", "134049540"]),
    ("fix latE5=5249087 lngE5=1340495", &["5249087", "1340495"]),
    // ---------------------------------------------------------------- decimal comma, Unicode minus
    ("2026-11-27T08:20:11Z DEBUG locus::gps: Position 52,490868 13,404954 (de_DE)", &["52,490868", "13,404954"]),
    ("fix 52,490868; 13,404954 acc 5 m", &["52,490868", "13,404954"]),
    ("Standort: 48,137154, 11,576124", &["48,137154", "11,576124"]),
    ("lat=52,490868 lon=13,404954", &["490868", "404954"]),
    ("fix −34.603722, −58.381592 provider=gps", &["34.603722", "58.381592"]),
    ("Buenos Aires fix (−34.6037 −58.3816)", &["34.6037", "58.3816"]),
    ("lat=−34.603722 lon=−58.381592", &["34.603722", "58.381592"]),
    // ---------------------------------------------------------------- projected metres
    ("2026-11-27T08:20:12Z DEBUG locus::proj: EPSG:3857 x=1492237.3 y=6894699.8", &["1492237.3", "6894699.8"]),
    ("mercator x: 1492237, y: 6894699", &["1492237", "6894699"]),
    ("easting=389645.2 northing=5819874.1 zone 33", &["389645.2", "5819874.1"]),
    ("reprojected to EPSG:25833 (389645.21, 5819874.33)", &["389645.21", "5819874.33"]),
    // ---------------------------------------------------------------- polylines
    ("2026-11-27T08:20:13Z DEBUG locus::route: polyline=_p~iF~ps|U_ulLnnqC_mqNvxq`@ points=3", &["_p~iF~ps|U_ulLnnqC_mqNvxq`@"]),
    ("{\"overview_polyline\": {\"points\": \"a~l~Fjk~uOwHJy@P\"}, \"status\": \"OK\"}", &["a~l~Fjk~uOwHJy@P"]),
    ("{\"geometry\":\"_izlhA~rlgdF_{geC~ywl@_kwzCn`{nI\",\"distance\":1234.5}", &["_izlhA~rlgdF_{geC~ywl@_kwzCn`{nI"]),
    ("static map https://maps.example.com/staticmap?size=600x300&path=enc:_p~iF~ps|U_ulLnnqC", &["_p~iF~ps|U_ulLnnqC"]),
    ("encoded_path: gfo}EtohhUxD@bAxJmGF", &["gfo}EtohhUxD@bAxJmGF"]),
    // ---------------------------------------------------------------- a lone coordinate in an assertion
    ("thread 'main' panicked at src/geo.rs:41:9: assertion failed: lat == 52.520008", &["52.520008"]),
    ("assertion `left == right` failed: left: 52.520008 right: 52.5201", &["52.520008", "52.5201"]),
    ("  left: 13.404954", &["13.404954"]),
    ("java.lang.AssertionError: expected:<52.520008> but was:<52.520011>", &["52.520008", "52.520011"]),
    ("org.opentest4j.AssertionFailedError: expected: <13.4049> but was: <13.4050>", &["13.4049", "13.4050"]),
    ("kotlin.AssertionError: Expected latitude 52.52001 to be within 0.0001 of 52.52008", &["52.52001", "52.52008"]),
    ("check failed: got 48.858370 want 48.858371", &["48.858370", "48.858371"]),
    // ---------------------------------------------------------------- geofence centres
    ("2026-11-27T08:20:14Z INFO  locus::fence: geofence \"home\" center=52.52,13.40 radius=150m", &["52.52,13.40"]),
    ("CircularRegion home: 52.5, 13.4 r=100m", &["52.5, 13.4"]),
    ("fence work centre: (48.1, 11.5) radius 200 m", &["48.1, 11.5"]),
    ("{\"home\": [52.52, 13.40], \"radius\": 150}", &["52.52, 13.40"]),
    ("registering geofence id=home lat=52.52 lng=13.40 radius=100", &["52.52", "13.40"]),
    // ---------------------------------------------------------------- cell ids
    ("2026-11-27T08:20:15Z DEBUG locus::radio: serving cell mcc=262 mnc=01 lac=12345 cid=67890123", &["12345", "67890123"]),
    ("CellIdentityLte:{ mCi=12345678 mPci=123 mTac=1234 mEarfcn=6300 mBandwidth=20000 mMcc=262 mMnc=01 }", &["12345678", "mPci=123", "mTac=1234"]),
    ("CellIdentityGsm:{ mLac=20456 mCid=31234 mArfcn=60 mBsic=0x3f }", &["20456", "31234", "0x3f"]),
    ("CellIdentityNr:{ mNci=1234567890 mPci=501 mTac=70001 }", &["1234567890", "mPci=501", "70001"]),
    ("{\"cellId\": 67890123, \"lac\": 12345, \"mcc\": 262}", &["67890123", "12345"]),
    ("cell_id=0x1a2b3c tac=0x4d2", &["0x1a2b3c", "0x4d2"]),
    ("lte eci=26843545 enb_id=104857", &["26843545", "104857"]),
    // ---------------------------------------------------------------- Wi-Fi
    ("2026-11-27T08:20:16Z INFO  locus::wifi: SSID: \"FRITZ!Box 7590 XQ\", BSSID: 00:1a:2b:3c:4d:5e", &["FRITZ!Box 7590 XQ", "00:1a:2b:3c:4d:5e"]),
    ("wifi scan: bssid=001a2b3c4d5e rssi=-61", &["001a2b3c4d5e"]),
    ("connected to Wi-Fi network \"Vodafone-8C2A\"", &["Vodafone-8C2A"]),
    ("WifiInfo: ssid=HomeNet-5G, BSSID 001A2B3C4D5E, RSSI -55", &["HomeNet-5G", "001A2B3C4D5E"]),
    ("{\"ssid\": \"Anna und Tom\", \"frequency\": 5180}", &["Anna und Tom"]),
    ("hotspot \"Martins Hotspot\" in range", &["Martins Hotspot"]),
    ("wlan0: associated with AP 0024a5b6c7d8", &["0024a5b6c7d8"]),
    // ---------------------------------------------------------------- addresses and postcodes
    ("2026-11-27T08:20:17Z INFO  locus::geocode: reverse result 221B Baker Street, London NW1 6XE", &["221B Baker Street", "NW1 6XE"]),
    ("address: 1600 Amphitheatre Parkway, Mountain View, CA 94043", &["1600 Amphitheatre Parkway", "94043"]),
    ("Lieferadresse Hauptstraße 12, 10115 Berlin", &["Hauptstraße 12", "10115"]),
    ("geocoded Berliner Straße 5a to a rooftop result", &["Berliner Straße 5a"]),
    ("home: Karl-Marx-Allee 90, D-10243 Berlin", &["Karl-Marx-Allee 90", "10243"]),
    ("reverse: 12 rue de Rivoli, 75004 Paris", &["12 rue de Rivoli", "75004"]),
    ("dirección: Calle Mayor 5, 28013 Madrid", &["Calle Mayor 5", "28013"]),
    ("indirizzo Via Roma 10, 00184 Roma", &["Via Roma 10", "00184"]),
    ("pickup at 350 Fifth Avenue, New York, NY 10118", &["350 Fifth Avenue", "10118"]),
    ("billing postcode SW1A 1AA rejected", &["SW1A 1AA"]),
    ("postal code K1A 0B1 (Ottawa)", &["K1A 0B1"]),
    ("home_address=\"Musterweg 3, 12345 Musterstadt\"", &["Musterweg 3", "12345"]),
    ("{\"zip\": \"94103\", \"city\": \"San Francisco\"}", &["94103"]),
    ("Gerichtsstr. 7 found in geocoder cache", &["Gerichtsstr. 7"]),
    // ---------------------------------------------------------------- names
    ("2026-11-27T08:20:18Z INFO  locus::sync: uploading Anna Schmidt's track (2.4 MiB)", &["Anna", "Schmidt"]),
    ("share: track shared with Jürgen Müller", &["Jürgen", "Müller"]),
    ("invite sent to Maria Garcia-Lopez", &["Maria", "Garcia"]),
    ("E/Export: cannot open /storage/emulated/0/Download/Anna_Schmidt_run.gpx", &["Anna", "Schmidt"]),
    ("imported Thomas-Weber-2026-11-27.gpx (12 points)", &["Thomas", "Weber"]),
    ("file:///sdcard/Documents/Peter.Fischer.kml not found", &["Peter", "Fischer"]),
    ("support ticket from Dr. Weber about battery drain", &["Weber"]),
    ("Frau Müller hat den Export gestartet", &["Müller"]),
    ("welcome back, John Smith!", &["John", "Smith"]),
    ("leaderboard: 1. Sofia Rossi 42.1 km", &["Sofia", "Rossi"]),
    // ---------------------------------------------------------------- device names carrying a name
    ("2026-11-27T08:20:19Z INFO  locus::ble: connected to Anna's AirPods Pro", &["Anna"]),
    ("bluetooth: bonded with Tom’s Apple Watch", &["Tom"]),
    ("mdns: found Annas-MacBook-Pro.local at 192.168.1.23", &["Annas", "192.168.1.23"]),
    ("sync peer anna-schmidts-iphone.fritz.box", &["anna-schmidts"]),
    ("device name: Peters iPad", &["Peters"]),
    ("Handy: iPhone von Anna", &["Anna"]),
    ("airdrop target Lukas's MacBook Air", &["Lukas"]),
    ("hostname: jonas-mbp.local", &["jonas"]),
    // ---------------------------------------------------------------- e-mail in other clothes
    ("2026-11-27T08:20:20Z INFO  locus::support: reply to anna at example dot org", &["anna", "example"]),
    ("contact: anna [at] example [dot] org", &["anna", "example"]),
    ("mail anna(at)example(dot)org for the beta", &["anna", "example"]),
    ("account jürgen@müller.de created", &["jürgen", "müller"]),
    ("Benutzer anna@beispiel.de angemeldet", &["anna@beispiel"]),
    ("用户 xiaoming@例子.广告 已登录", &["xiaoming", "例子"]),
    // ---------------------------------------------------------------- dates of birth, passports
    ("2026-11-27T08:20:21Z DEBUG locus::profile: born 1990-03-14, height 172 cm", &["1990-03-14"]),
    ("Date of birth: 14.03.1990", &["14.03.1990"]),
    ("DOB 03/14/1990 verified", &["03/14/1990"]),
    ("geb. 14. März 1990 in Hamburg", &["14. März 1990"]),
    ("birthday: March 14, 1990", &["March 14, 1990"]),
    ("passport number C01X00T47 scanned", &["C01X00T47"]),
    ("Reisepass Nr. C4J9K2LM7 gültig", &["C4J9K2LM7"]),
    ("mrz P<DEUMUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<<<", &["MUSTERMANN", "ERIKA"]),
    ("mrz2 C01X00T478D<<6408125F2702283<<<<<<<<<<<<<<<4", &["C01X00T47", "6408125"]),
    // ---------------------------------------------------------------- secrets in other clothes
    ("2026-11-27T08:20:22Z ERROR locus::db: connect postgres://locus:s3cr3t-pw@db.internal:5432/tracks failed", &["s3cr3t-pw"]),
    ("DATABASE_URL=postgresql://admin:hunter2@10.0.3.4/locus", &["hunter2", "10.0.3.4"]),
    ("redis error: redis://:p4ssw0rd@cache:6379/0 refused", &["p4ssw0rd"]),
    ("mongodb+srv://anna:Zr7%40x@cluster0.example.net/test", &["Zr7%40x"]),
    ("running: curl -u alice:hunter2 https://api.example.com/v1/export", &["hunter2"]),
    ("+ curl --user 'bob:correct horse' -X POST https://api.example.com", &["correct horse"]),
    ("> Authorization: Digest username=\"anna\", realm=\"locus\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", response=\"6629fae49393a05397450978507c4ef1\"", &["anna", "6629fae49393a05397450978507c4ef1", "dcd98b71"]),
    ("> Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", &["YWxhZGRpbjpvcGVuc2VzYW1l"]),
    ("{\"headers\":{\"Authorization\":\"Digest username=\\\"anna\\\", response=\\\"6629fae4\\\"\"},\"status\":401}", &["anna", "6629fae4"]),
    ("> Cookie: _ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000", &["1234567890", "987654321"]),
    ("tracking: _fbp=fb.1.1596403881668.1116446470 _gcl_au=1.1.1234567890.1700000000", &["1116446470", "1234567890"]),
    ("< Set-Cookie: MUID=39C1843BFA6A6AAB2A5A9B2AFB0C6B38; domain=.example.com", &["39C1843BFA6A6AAB"]),
    ("ajs_anonymous_id=%22b5a3c0e8-1234%22 sent", &["b5a3c0e8-1234"]),
    ("2026-11-27T08:20:23Z INFO  locus::device: Serial Number: C02XL0GHJG5J", &["C02XL0GHJG5J"]),
    ("getprop ro.serialno=R58M12ABCDE", &["R58M12ABCDE"]),
    ("S/N: 4C7D2E19A0B3 model X1", &["4C7D2E19A0B3"]),
    ("hw serial ZX1G22B5QK", &["ZX1G22B5QK"]),
    ("FirebaseInstallations: FID cTt1L9u-Sgq6LpcG6pFUsQ registered", &["cTt1L9u-Sgq6LpcG6pFUsQ"]),
    ("{\"fid\":\"fJzD5GsnQwqz0_1Bz3YdXa\",\"appId\":\"1:123:android:abc\"}", &["fJzD5GsnQwqz0_1Bz3YdXa"]),
    ("FCM token dP7v9vT3S8e:APA91bHqR2x_Jf8kLmN0pQrStUvWxYz1234567890abcdEFGHijklMNOPqrstUVWXyz", &["APA91bHqR2x"]),
    ("upload to gs://anna-tracks-2026/diagnostics/x.gz failed", &["anna-tracks-2026"]),
    ("AccessDenied on arn:aws:s3:::anna-private-tracks/2026/11/27.gz", &["anna-private-tracks"]),
    ("assumed arn:aws:iam::123456789012:role/locus-uploader", &["123456789012"]),
    ("PUT https://annastore.blob.core.windows.net/tracks/x 403", &["annastore"]),
    ("GET https://storage.googleapis.com/anna-tracks/x.gz 404", &["anna-tracks"]),
    ("reverse DNS ip-10-0-1-23.eu-central-1.compute.internal", &["10-0-1-23"]),
    ("peer c-73-133-27-120.hsd1.ca.comcast.net closed", &["73-133-27-120"]),
    ("from ec2-54-210-167-99.compute-1.amazonaws.com", &["54-210-167-99"]),
    ("client p5b0c1d2e.dip0.t-ipconnect.de", &["p5b0c1d2e"]),
    ("dialup dslb-088-073-012-034.088.073.pools.vodafone-ip.de", &["088-073-012-034"]),
    // ---------------------------------------------------------------- compound secret keys
    ("2026-11-27T08:20:24Z DEBUG locus::config: the_secret=hello a_password_here=hello", &["hello"]),
    ("new_token=hidden secret-token-here=ops foo-token-bar=xyz", &["hidden", "ops", "xyz"]),
    ("auth=foobar two-factor=123456 2fa=654321", &["foobar", "123456", "654321"]),
    ("> X-Token: abcd", &["abcd"]),
    ("> Token: abcd", &["abcd"]),
    ("> X-CSRF-Token: 1a2b3c", &["1a2b3c"]),
    ("GET /callback?state=xyz&the_secret=hello&new_token=abc HTTP/1.1", &["hello", "=abc"]),
    ("DB_PASSWORD_PROD=abc api-key-v2=k9", &["=abc", "=k9"]),
    ("RU0204452560040702810412345678901 on file", &["0204452560040702810412345678901"]),
    ("payout to LY83002048000020100120361 queued", &["002048000020100120361"]),
    ("cannot write C:\\Windows\\Profiles\\Armin\\Temp\\locus.tmp", &["Armin"]),
    ("cannot write C:\\WINNT\\Profiles\\jdoe\\Desktop", &["jdoe"]),
    // ---------------------------------------------------------------- mixed, realistic
    ("E/AndroidRuntime: java.io.FileNotFoundException: /storage/emulated/0/Download/Maria_Rossi_Lauf.gpx: open failed: ENOENT", &["Maria", "Rossi"]),
    ("thread 'sync' panicked at src/upload.rs:77:13: upload of Lisa Wagner's track to gs://lisa-w/t.gz failed", &["Lisa", "Wagner", "lisa-w"]),
    ("Caused by: java.net.UnknownHostException: Unable to resolve host \"ip-172-31-5-9.ec2.internal\"", &["172-31-5-9"]),
    ("kotlin.IllegalStateException: geofence home (52.520008, 13.404954) already registered", &["52.520008", "13.404954"]),
    ("W/Locus: fused fix 52.520008,13.404954 near Hauptstraße 12 via Wi-Fi \"Anna Home\"", &["52.520008", "Hauptstraße 12", "Anna Home"]),
    ("I/Locus: cell lac=4711 cid=123456 ssid=\"Cafe Einstein\" bssid=a0b1c2d3e4f5", &["4711", "123456", "Cafe Einstein", "a0b1c2d3e4f5"]),
];

/// Lines that must come through byte for byte.
const KEPT: &[&str] = &[
    // versions, four parts too
    "2026-11-27T08:21:01Z INFO  locus: starting Locus version 1.2.3.4 (build 456)",
    "versionName=10.0.2.1 versionCode=100021",
    "{\"appVersion\": \"4.2.0.12\", \"sdk\": 34}",
    "User-Agent: Mozilla/5.0 (Linux; Android 14) Chrome/120.0.0.0 Mobile Safari/537.36",
    "firmware 2.1.0.7 on nRF52840",
    "okhttp/4.12.0 Locus/1.2.3.4",
    "upgrading v1.2.3.4 -> v1.2.3.5",
    "build 1.2.3.4 signed",
    "kernel 5.10.198.1 android13",
    // program counters, backtraces, addresses
    "pc=0x7ffe5f3c2a10 sp=0x7ffe5f3c2900",
    "    #00 pc 000000000004a1b4  /apex/com.android.runtime/lib64/bionic/libc.so (abort+164)",
    "    #01 pc 00000000000e6b58  /data/app/app.locus/lib/arm64/liblocus.so (rust_panic+56)",
    "   0: 0x55d4c2a1b3c4 - std::backtrace_rs::backtrace::libunwind::trace",
    "  13: 0x0000555555561234 - locus::sync::upload::h3f2a9c0d1e4b5a69",
    "    x0  0000000000000000  x1  0000007fd2b3c4a8  x2  0000000000000006  x3  0000007fd2b3c3b0",
    "fault addr 0x0000000000000018",
    "signal 11 (SIGSEGV), code 1 (SEGV_MAPERR), fault addr 0x0",
    "at 0x00007f3a12345678 in liblocus.so",
    // file:line:col
    "thread 'main' panicked at src/main.rs:10:5:",
    "thread 'locus-sync' panicked at crates/locus-sync/src/s3.rs:210:17:",
    "  --> src/geo/filter.rs:88:14",
    "\tat app.locus.sync.S3Uploader.upload(S3Uploader.kt:88)",
    "\tat java.base/java.util.ArrayList.get(ArrayList.java:427)",
    "\tat kotlinx.coroutines.DispatchedTask.run(DispatchedTask.kt:108)",
    "  File \"/usr/lib/python3.11/json/decoder.py\", line 355, in raw_decode",
    // sizes, durations, percentages, counts
    "2026-11-27T08:21:02Z INFO  locus::sync::s3: uploaded 128 records (42.1 KiB) in 312ms",
    "ring 1048576 bytes, 3912 records, 0 lost, 12.5% full",
    "GC freed 12345(678KB) AllocSpace objects, 49% free, 3MB/6MB, paused 1.234ms total 10.567ms",
    "battery 87.5% temp 31.5°C voltage 3.85V",
    "took 1.25s (p50=12.345ms p99=56.789ms max=120.5ms)",
    "download 2.5 MB/s, eta 00:01:30",
    "retry 3 of 5 after 250ms backoff",
    "heap 512.0 MiB of 2.0 GiB used (25%)",
    "dt=1.002s q=0.25 r=4.0 gain 0.52 0.48",
    "timer fired after 5000 ms (expected 5000, drift 0.04%)",
    // trace ids and span ids
    "trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7",
    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "{\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",\"span_id\":\"00f067aa0ba902b7\"}",
    "x-b3-traceid: 463ac35c9f6413ad48485a3953bb6124",
    "sentry-trace: 771a43a4192642f0b136d5159a501700-b3f9b4c0a5c6d7e8-1",
    "otel.trace_id=5b8efff798038103d269b633813fc60c otel.span_id=eee19b7ec3c1b174",
    // ordinary English log lines
    "2026-11-27T08:21:03Z INFO  locus::gps: no fix yet, waiting for satellites",
    "Sync finished. All tracks are up to date.",
    "The application may be doing too much work on its main thread.",
    "Skipped 31 frames! The application may be doing too much work on its main thread.",
    "User cancelled the export before it finished.",
    "Network is unreachable, will retry when connectivity returns",
    "Location permission denied; falling back to manual entry",
    "Battery saver is on: GPS interval raised to 60 s",
    "Upload paused until the device is charging and on Wi-Fi",
    "Please sign in again to continue syncing",
    "Export complete: 3 tracks, 1,234 points, 56.7 km",
    "Backup restored from the cloud on first launch",
    "Welcome back! Your last ride was on Tuesday.",
    "Streets layer loaded, 12 features",
    "String 12 chars too long for the title",
    "Home screen widget updated",
    "Work profile detected; telemetry stays off",
    "Main Activity started in 412 ms",
    "Tom cat sleeping", // lowercase surname: not a name
    "Will retry in 5 s",
    "May contain partial data",
    "Max Retries reached for upload",
    "Grace Period ends in 3 days",
    // Rust panics
    "thread 'main' panicked at src/main.rs:10:5: called `Option::unwrap()` on a `None` value",
    "thread 'main' panicked at src/lib.rs:42:9: called `Result::unwrap()` on an `Err` value: Os { code: 2, kind: NotFound, message: \"No such file or directory\" }",
    "thread 'tokio-runtime-worker' panicked at src/sync.rs:120:27: index out of bounds: the len is 3 but the index is 7",
    "thread 'main' panicked at src/math.rs:5:13: attempt to subtract with overflow",
    "thread 'main' panicked at src/buf.rs:77:30: range end index 1025 out of range for slice of length 1024",
    "thread 'main' panicked at src/main.rs:3:5: explicit panic",
    "thread 'main' panicked at src/div.rs:8:5: attempt to divide by zero",
    "thread 'main' panicked at src/lock.rs:19:41: PoisonError { .. }",
    "thread 'main' panicked at src/str.rs:12:22: byte index 5 is not a char boundary; it is inside 'é' (bytes 4..6) of `café`",
    "thread 'main' panicked at src/cfg.rs:30:10: assertion `left == right` failed\n  left: 3\n right: 4",
    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
    "thread 'main' has overflowed its stack",
    "fatal runtime error: stack overflow",
    "thread 'main' panicked at src/main.rs:14:5: not yet implemented",
    "thread 'main' panicked at src/main.rs:22:14: internal error: entered unreachable code",
    "thread 'main' panicked at library/alloc/src/raw_vec.rs:545:5: capacity overflow",
    // Kotlin / Java exceptions
    "FATAL EXCEPTION: main Process: app.locus, PID: 12345",
    "java.lang.NullPointerException: Attempt to invoke virtual method 'int java.lang.String.length()' on a null object reference",
    "java.lang.IllegalStateException: Expected BEGIN_OBJECT but was STRING at line 1 column 1 path $",
    "java.lang.IndexOutOfBoundsException: Index 7 out of bounds for length 3",
    "java.lang.OutOfMemoryError: Failed to allocate a 65552 byte allocation with 12345 free bytes and 12KB until OOM",
    "java.util.ConcurrentModificationException",
    "java.net.SocketTimeoutException: timeout",
    "java.net.ConnectException: Failed to connect to /127.0.0.1:8080",
    "javax.net.ssl.SSLHandshakeException: Chain validation failed",
    "android.os.NetworkOnMainThreadException",
    "kotlin.UninitializedPropertyAccessException: lateinit property repository has not been initialized",
    "kotlin.KotlinNullPointerException",
    "kotlinx.coroutines.JobCancellationException: StandaloneCoroutine was cancelled",
    "java.lang.ClassCastException: java.lang.Integer cannot be cast to java.lang.String",
    "java.lang.NumberFormatException: For input string: \"abc\"",
    "java.lang.IllegalArgumentException: Parameter specified as non-null is null: method app.locus.Track.<init>, parameter name",
    "android.database.sqlite.SQLiteConstraintException: UNIQUE constraint failed: tracks.id (code 2067)",
    "java.lang.SecurityException: Need android.permission.ACCESS_FINE_LOCATION",
    "Caused by: java.io.IOException: No space left on device",
    "\tat android.os.Handler.dispatchMessage(Handler.java:106)",
    "\tat android.os.Looper.loopOnce(Looper.java:201)",
    "\tat com.android.internal.os.ZygoteInit.main(ZygoteInit.java:936)",
    "\t... 12 more",
    // numbers and identifiers that only look like the new categories
    "2026-11-27T08:21:04Z INFO  locus::db: migrated schema 41 -> 42 in 1.5s",
    "HTTP 503 Slow Down, retry 1/2 in 250ms",
    "sessions exited=12 crashed=1 abnormal=0 period 24h",
    "ratio 2222+33 overflow check",
    "GET /v1/tiles/styles.json 200",
    "zoom 3 tiles /tiles/3/4/2.png cached",
    "sig=11 code=1",
    "token_type=Bearer, expires_in=3600",
    "password_length=12 password_policy=strong",
    "token_count=512 max_tokens=4096",
    "ci=true build=4711",
    "mcc=262 mnc=01",
    "cid=abc-content-id",
    "ssid=<unknown ssid>",
    "screen x=1080 y=2400 density 2.75",
    "checksum 0x1f2e3d4c ok",
    "commit 3f2a9c0 on main",
    "JO62 qualifies as a grid square only with a key",
    "model SM-S911B build UP1A.231005.007",
    "port 8443 open, 65535 max",
    "uuid_version=4 variant=2",
    "assertion failed: count == 3",
    "expected 200 but was 503",
    "left: 3 right: 4",
    "[main] INFO  locus.sync - retry after 2.5 s, HTTP 429 Too Many Requests",
    "lifecycle rule locus-diagnostics-expiry ok (30 days)",
];

/// A few lines with their exact output, to pin the placeholders.
const EXACT: &[(&str, &str)] = &[
    ("uploading Anna Schmidt's track", "uploading <name>'s track"),
    ("paired with Anna's AirPods", "paired with <name>'s AirPods"),
    (
        "mdns Annas-MacBook-Pro.local",
        "mdns <name>-MacBook-Pro.local",
    ),
    (
        "open /Download/Anna_Schmidt_run.gpx",
        "open /Download/<name>_run.gpx",
    ),
    ("mail anna at example dot org", "mail <email>"),
    ("lac=12345 cid=67890123", "lac=<cell> cid=<cell>"),
    ("ssid=\"Anna Home\"", "ssid=\"<ssid>\""),
    ("ship to 221B Baker Street", "ship to <address>"),
    ("Cookie: not_sensitive=\"keep this\"", "Cookie: <secret>"),
    ("GET /15/17602/10743.png", "GET /<location>.png"),
    ("plus code 9F4MGC2R+6X", "plus code <location>"),
    ("fix 52,490868 13,404954", "fix <location>"),
    (
        "resolved ip-10-0-1-23.ec2.internal",
        "resolved <ip>.ec2.internal",
    ),
    (
        "curl -u alice:hunter2 https://x",
        "curl -u <secret> https://x",
    ),
    ("version 1.2.3.4 from 10.1.2.3", "version 1.2.3.4 from <ip>"),
];

#[test]
fn the_table_is_large_enough() {
    let total = SCRUBBED.len() + KEPT.len() + EXACT.len();
    assert!(total >= 300, "{total} lines");
    assert!(KEPT.len() >= 100, "{} benign lines", KEPT.len());
}

#[test]
fn sensitive_fragments_are_gone() {
    let mut failures = Vec::new();
    for (line, fragments) in SCRUBBED {
        let out = scrub(line);
        let left: Vec<_> = fragments.iter().filter(|f| out.contains(*f)).collect();
        if !left.is_empty() || find_pii(line).is_none() {
            failures.push(format!("{line}\n  -> {out}\n  left: {left:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        SCRUBBED.len(),
        failures.join("\n")
    );
}

#[test]
fn benign_lines_stay_byte_for_byte() {
    let mut failures = Vec::new();
    for line in KEPT {
        let out = scrub(line);
        if out != *line || !matches!(out, Cow::Borrowed(_)) || find_pii(line).is_some() {
            failures.push(format!("{line}\n  -> {out}  ({:?})", find_pii(line)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        KEPT.len(),
        failures.join("\n")
    );
}

#[test]
fn exact_outputs() {
    for (input, want) in EXACT {
        assert_eq!(scrub(input), *want, "{input}");
    }
}

#[test]
fn outputs_are_clean_fixed_points() {
    let inputs = SCRUBBED
        .iter()
        .map(|(l, _)| *l)
        .chain(KEPT.iter().copied())
        .chain(EXACT.iter().map(|(i, _)| *i));
    for input in inputs {
        let out = scrub(input);
        assert_eq!(find_pii(&out), None, "{input} -> {out}");
        assert_eq!(scrub(&out), out, "not a fixed point: {out}");
    }
}

#[test]
fn the_whole_table_as_one_log() {
    let log: Vec<&str> = SCRUBBED
        .iter()
        .map(|(l, _)| *l)
        .chain(KEPT.iter().copied())
        .collect();
    let whole = scrub(&log.join("\n")).into_owned();
    let by_line: Vec<String> = log.iter().map(|l| scrub(l).into_owned()).collect();
    assert_eq!(whole, by_line.join("\n"));
}

#[test]
fn new_placeholders_are_listed_and_inert() {
    for p in ["<name>", "<address>", "<cell>", "<ssid>"] {
        assert!(locus_privacy::PLACEHOLDERS.contains(&p), "{p}");
        assert_eq!(scrub(p), p);
        assert_eq!(find_pii(&format!("x {p}'s iPhone at {p}, {p} {p}")), None);
    }
}

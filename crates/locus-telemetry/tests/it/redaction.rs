//! Issue 19, part 1 through the app's API: the categories an app declares in its
//! settings (`field_categories`) decide what `Telemetry::export` with `redact` keeps of
//! each field; undeclared keys get Locus's defaults (coordinates removed, unknown text
//! redacted as templates); a declaration that is not a category is refused, naming the
//! setting, and at start costs only that setting.

use locus_telemetry::inspect::export_bundle;
use locus_telemetry::record::Body;
use locus_telemetry::sink::s3::decode_batch;
use locus_telemetry::{ExportOptions, FieldValue, Level, Settings, Telemetry};
use std::collections::BTreeMap;
use std::time::Duration;

fn declared(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn fields_of(records: &[locus_telemetry::record::Record], message: &str) -> Vec<String> {
    records
        .iter()
        .find_map(|r| match &r.body {
            Body::Log(l) if l.message == message => {
                let mut f: Vec<String> = l.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.sort();
                Some(f)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {message:?} record"))
}

#[test]
fn declared_categories_decide_what_a_redacted_bundle_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t = Telemetry::start(Settings {
        data_dir: data.clone(),
        enable_s3_diagnostics: false,
        field_categories: declared(&[("pet", "personal"), ("speed", "technical")]),
        ..Settings::default()
    });
    t.log(
        Level::Info,
        "locus::gps",
        "gps fix",
        &[
            ("lat", FieldValue::F64(52.520008)),
            ("lon", FieldValue::F64(13.404954)),
            ("speed", FieldValue::F64(1.25)),
            ("pet", FieldValue::Str("Rex")),
            ("status", FieldValue::I64(200)),
            (
                "note",
                FieldValue::Str("walked Rex near 52.520008, 13.404954 in 12 min"),
            ),
        ],
    );
    let out = dir.path().join("red.jsonl.gz");
    let options = ExportOptions {
        redact: true,
        ..ExportOptions::default()
    };
    let summary = t.export(&out, &options).unwrap();
    let records = decode_batch(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(
        fields_of(&records, "gps fix"),
        [
            "note=<word> <word> near <location> in 12 min",
            "speed=1.25",
            "status=200",
        ]
    );
    let removed: Vec<(&str, &str)> = summary
        .removed_fields
        .iter()
        .map(|(k, c, _)| (k.as_str(), *c))
        .collect();
    assert_eq!(
        removed,
        [
            ("lat", "location"),
            ("lon", "location"),
            ("pet", "personal")
        ]
    );
    let text = summary.to_text();
    assert!(
        text.contains("fields removed:     lat 1 (location)"),
        "{text}"
    );
    assert!(text.contains("<location> 1"), "{text}");
    t.shutdown(Duration::from_millis(500));

    // From the data dir, without the app's settings: Locus's defaults — `speed` is
    // location, `pet` unknown text, made a template.
    let b = export_bundle(&data, &options).unwrap();
    assert_eq!(
        fields_of(b.records(), "gps fix"),
        [
            "note=<word> <word> near <location> in 12 min",
            "pet=<word>",
            "status=200",
        ]
    );
}

#[test]
fn a_declaration_that_is_not_a_category_is_refused_naming_the_setting() {
    let ok = Settings::from_toml_str(
        "[field_categories]\nbattery_pct = \"technical\"\nroute = \"location\"\n",
    )
    .unwrap();
    assert_eq!(ok.field_categories.len(), 2);
    for bad in [
        "[field_categories]\nlat = \"public\"\n",
        "[field_categories]\n\"a key\" = \"technical\"\n",
        "[field_categories]\n\"\" = \"technical\"\n",
    ] {
        let err = Settings::from_toml_str(bad).unwrap_err();
        assert_eq!(err.key(), Some("field_categories"), "{bad}: {err}");
    }
    // At start an invalid declaration costs that setting only: Locus's defaults.
    let s = Settings {
        field_categories: declared(&[("lat", "public")]),
        retention_days: 7,
        ..Settings::default()
    };
    let (used, replaced) = s.with_defaults_for_invalid();
    assert!(used.field_categories.is_empty());
    assert_eq!(used.retention_days, 7);
    assert_eq!(replaced.len(), 1);
    assert_eq!(replaced[0].0.key(), Some("field_categories"));
}

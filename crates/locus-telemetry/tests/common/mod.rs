//! Set-up shared by the fault drills (`fault_*.rs`): an app whose diagnostics go to a
//! loopback S3 endpoint, with rounds driven by `flush` only, started with a clock the
//! test moves by hand.

use locus_telemetry::breaker::ManualClock;
use locus_telemetry::{Settings, Telemetry};
use std::path::Path;
use std::sync::Arc;

/// Settings for device `<name>-device` uploading to `s3://<name>-bucket` at `endpoint`
/// with 1 s attempts; the secret is `<name>-secret-never-shown`.
pub fn loopback_settings(name: &str, endpoint: &str, dir: &Path) -> Settings {
    Settings {
        data_dir: dir.to_path_buf(),
        device_id: Some(format!("{name}-device")),
        destination: Some(format!("s3://{name}-bucket")),
        s3_endpoint: Some(endpoint.to_owned()),
        s3_region: Some("us-east-1".into()),
        s3_access_key_id: Some(format!(
            "AKID{}",
            name.to_ascii_uppercase().replace('-', "")
        )),
        s3_secret_access_key: Some(format!("{name}-secret-never-shown")),
        s3_path_style: true,
        attempt_timeout_secs: 1,
        // Rounds are driven by `flush` only: an hour never passes in a test.
        upload_interval_secs: 3600,
        ..Settings::default()
    }
}

/// Starts telemetry with `settings` and the breakers on `clock`.
pub fn start_with_clock(settings: Settings, clock: Arc<ManualClock>) -> Telemetry {
    Telemetry::builder(settings).clock(clock).start()
}

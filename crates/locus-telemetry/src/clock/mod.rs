//! One clock for telemetry: the wall clock as telemetry may use it. Its values cannot
//! panic or wrap, and it says when it is not to be trusted.
//!
//! Why: the system clock belongs to the user, and it can say anything — before 1970 (a
//! dead RTC battery, a test), where `chrono::Utc::now()` panics; after 2262, where
//! nanoseconds since the epoch overflow an `i64` and timestamps wrap; or jump by days
//! while the app runs. Every wall-clock reading telemetry takes goes through here (the
//! hot path's record timestamps through [`fast`], clamped the same way):
//!
//! - **Clamped** to [1970-01-01, 2200-01-01): never a panic, never a wrap. Object keys
//!   stay unique on a clamped clock because [`crate::sink::s3::KeyClock`] moves on by a
//!   nanosecond whatever the clock repeats.
//! - **Watched for jumps**: each reading is compared with `CLOCK_BOOTTIME` (which, unlike
//!   `CLOCK_MONOTONIC`, goes on while a phone sleeps, so a night in the pocket is not a
//!   jump). A difference of more than [`JUMP_TOLERANCE_SECS`] either way since the first
//!   reading is a jump.
//! - **Flagged**: both facts live in process-wide atomics; `status()` shows them as a
//!   [`crate::status::ProblemArea::Clock`] problem, and whatever deletes data asks
//!   [`trusted_for_deletion`] first (retention deletes nothing on a clock that jumped or
//!   was clamped).

pub(crate) mod fast;

pub(crate) use fast::{calibrate_once, now_nanos};

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::OnceLock;

/// The latest second the clock may say: 2200-01-01T00:00:00Z. Far from 2262 (where i64
/// nanoseconds end), so arithmetic on clamped values has room.
pub(crate) const LATEST_SECS: i64 = 7_258_118_400;

/// How far the wall clock may move against the boot clock before it counts as a jump.
/// NTP corrections are milliseconds to seconds; a user setting the clock is minutes or more.
pub(crate) const JUMP_TOLERANCE_SECS: i64 = 120;

/// The last out-of-range second seen (before 1970 or after 2200), if any.
static OUT_OF_RANGE: AtomicBool = AtomicBool::new(false);
static OUT_OF_RANGE_SECS: AtomicI64 = AtomicI64::new(0);
/// The largest jump seen (seconds, signed), if any.
static JUMPED: AtomicBool = AtomicBool::new(false);
static JUMP_SECS: AtomicI64 = AtomicI64::new(0);
/// Wall and boot clock (ns) at the first reading in this process.
static BASE: OnceLock<(i128, i128)> = OnceLock::new();

#[allow(clippy::unnecessary_cast)] // time_t and c_long are 32 bits on 32-bit targets
fn read(clock: libc::clockid_t) -> Option<(i64, i64)> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass and nothing else.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then_some((ts.tv_sec as i64, ts.tv_nsec as i64))
}

/// Clamps a system-clock reading into range, noting it when it was out of range.
/// Async-signal-safe (two atomic stores at most).
#[inline]
pub(crate) fn clamp_nanos(secs: i64, nanos: i64) -> i64 {
    let clamped = secs.clamp(0, LATEST_SECS);
    if clamped != secs {
        OUT_OF_RANGE_SECS.store(secs, Ordering::Relaxed);
        OUT_OF_RANGE.store(true, Ordering::Relaxed);
        return clamped * 1_000_000_000;
    }
    clamped * 1_000_000_000 + nanos.clamp(0, 999_999_999)
}

/// Nanoseconds since the epoch from a raw wall-clock reading, clamped; also watches the
/// reading against the boot clock for jumps.
fn observe(secs: i64, nanos: i64) -> i64 {
    if let Some((bs, bn)) = read(libc::CLOCK_BOOTTIME) {
        let wall = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        let boot = i128::from(bs) * 1_000_000_000 + i128::from(bn);
        let &(wall0, boot0) = BASE.get_or_init(|| (wall, boot));
        let drift_secs = ((wall - wall0) - (boot - boot0)) / 1_000_000_000;
        if drift_secs.abs() > i128::from(JUMP_TOLERANCE_SECS) {
            let drift = drift_secs.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            JUMP_SECS.store(drift, Ordering::Relaxed);
            JUMPED.store(true, Ordering::Relaxed);
        }
    }
    clamp_nanos(secs, nanos)
}

/// Now, as telemetry may use it: never before 1970, never after 2200, never a panic.
pub(crate) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(now_unix_nanos())
}

/// [`now`] as nanoseconds since the epoch.
pub(crate) fn now_unix_nanos() -> i64 {
    match read(libc::CLOCK_REALTIME) {
        Some((secs, nanos)) => observe(secs, nanos),
        None => 0,
    }
}

/// The wall clock's first reading in this process (clamped): "when this process
/// started", as far as telemetry knows.
pub(crate) fn started_at() -> DateTime<Utc> {
    let now = now_unix_nanos();
    let first = BASE.get().map_or(i128::from(now), |&(wall, _)| wall);
    let secs = (first / 1_000_000_000).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    DateTime::from_timestamp_nanos(clamp_nanos(secs, (first % 1_000_000_000) as i64))
}

/// What is wrong with the clock, for `status()`; `None` when nothing was seen.
pub(crate) fn problem() -> Option<String> {
    // A fresh reading first, so a clock set wrong since the last one is seen.
    let _ = now_unix_nanos();
    let mut parts = Vec::new();
    if OUT_OF_RANGE.load(Ordering::Relaxed) {
        let secs = OUT_OF_RANGE_SECS.load(Ordering::Relaxed);
        parts.push(if secs < 0 {
            "the system clock reads before 1970: times are clamped to 1970-01-01".to_owned()
        } else {
            "the system clock reads after 2200: times are clamped to 2200-01-01".to_owned()
        });
    }
    if JUMPED.load(Ordering::Relaxed) {
        let secs = JUMP_SECS.load(Ordering::Relaxed);
        parts.push(format!(
            "the system clock jumped {} by {} while telemetry ran",
            if secs < 0 { "back" } else { "ahead" },
            human(secs.unsigned_abs())
        ));
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "{}; record times may be wrong and retention deletes nothing until the next start",
        parts.join("; ")
    ))
}

fn human(secs: u64) -> String {
    match secs {
        s if s >= 2 * 86_400 => format!("{} days", s / 86_400),
        s if s >= 2 * 3_600 => format!("{} hours", s / 3_600),
        s if s >= 120 => format!("{} minutes", s / 60),
        s => format!("{s} s"),
    }
}

/// Whether the clock may decide to delete data: it was never out of range or seen to
/// jump in this process. Retention asks this first.
pub(crate) fn trusted_for_deletion() -> bool {
    let _ = now_unix_nanos();
    !OUT_OF_RANGE.load(Ordering::Relaxed) && !JUMPED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_readings_are_clamped_not_wrapped() {
        assert_eq!(clamp_nanos(-5, 7), 0);
        assert_eq!(
            clamp_nanos(i64::MAX, 999_999_999),
            LATEST_SECS * 1_000_000_000
        );
        assert_eq!(clamp_nanos(10, 5), 10_000_000_005);
        assert!(DateTime::from_timestamp_nanos(clamp_nanos(i64::MIN, 0)).timestamp() == 0);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(400 * 86_400), "400 days");
        assert_eq!(human(3 * 3_600), "3 hours");
        assert_eq!(human(30), "30 s");
    }
}

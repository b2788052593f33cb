//! Crash capture: tombstones for panics and fatal signals that survive process death,
//! and the session marker that lets the next start tell how the previous session ended.
//!
//! The hooks find the recorder through one atomic pointer (no lock, no allocation), so
//! they are safe in a panicking thread and in a signal handler. Targets are leaked on
//! purpose: a signal handler may still hold a pointer to the one it read.

mod panic;
pub mod session;
mod signal;

use crate::recorder::{FlightRecorder, WeakRecorder};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::time::Instant;

/// What a hook needs to write a tombstone.
pub(crate) struct CrashTarget {
    /// Weak, so a shut-down recorder releases its ring file; upgrading is lock-free.
    pub recorder: WeakRecorder,
    pub app_version: String,
    pub os: String,
    /// Where telemetry's code is loaded, for the raw frames of a panic's tombstone.
    pub image: Option<panic::Image>,
    started: Instant,
}

impl CrashTarget {
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

static CRASHES: AtomicU64 = AtomicU64::new(0);

/// Crashes recorded by the hooks in this process.
pub(crate) fn crashes_seen() -> u64 {
    CRASHES.load(Ordering::Relaxed)
}

fn count_crash() {
    CRASHES.fetch_add(1, Ordering::Relaxed);
}

static TARGET: AtomicPtr<CrashTarget> = AtomicPtr::new(std::ptr::null_mut());

fn current_target() -> Option<&'static CrashTarget> {
    let p = TARGET.load(Ordering::Acquire);
    // SAFETY: non-null pointers in TARGET come from Box::leak and are never freed.
    unsafe { p.as_ref() }
}

/// Fatal signals that other processes sent to this one (`kill -SEGV`): forwarded as
/// they would have been without telemetry, never recorded as crashes.
#[cfg(any(test, feature = "internals"))]
pub fn foreign_signals_seen() -> u64 {
    signal::FOREIGN.load(Ordering::Relaxed)
}

/// A panic payload's text, when it is text (`panic!` with a literal or a format).
pub(crate) fn payload_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// A caught panic's message for a log line or an error: the payload's text, or a note
/// that it had none.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload_text(payload)
        .unwrap_or("non-text panic payload")
        .to_owned()
}

/// The OS and architecture, e.g. `linux-x86_64`.
pub fn os_string() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// Points crash capture at `recorder` and installs the panic hook and signal handlers
/// (once per process; later calls only move the target).
pub(crate) fn install(recorder: &FlightRecorder, app_version: &str, fatal_signals: bool) {
    let target = Box::leak(Box::new(CrashTarget {
        recorder: recorder.downgrade(),
        app_version: app_version.to_owned(),
        os: os_string(),
        image: panic::own_image(),
        started: Instant::now(),
    }));
    TARGET.store(target, Ordering::Release);
    panic::install();
    if fatal_signals {
        signal::install();
    }
}

/// Stops writing tombstones into `recorder` (if it is still the target), e.g. after
/// shutdown. The hooks stay installed and chain as before.
pub(crate) fn detach(recorder: &FlightRecorder) {
    if let Some(t) = current_target() {
        if t.recorder.ring_ptr() == recorder.ring_ptr() {
            TARGET.store(std::ptr::null_mut(), Ordering::Release);
        }
    }
}

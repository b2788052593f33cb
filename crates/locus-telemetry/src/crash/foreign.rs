//! Crashes of a foreign runtime: a JVM's (or ART's) uncaught exception, reported by its
//! binding from the runtime's uncaught-exception handler, written as a tombstone the
//! same way the panic hook writes one — synchronously into the ring, in chunks of its
//! own, before the runtime goes on to kill the process. The next start then reads the
//! session as crashed, and the community report counts it by its message's template.

use crate::record::CrashKind;
use crate::recorder::layout::MAX_RECORD;
use crate::recorder::FlightRecorder;

/// An uncaught exception of a foreign runtime, as its binding describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UncaughtException<'a> {
    /// The exception's class, e.g. `java.lang.IllegalStateException`.
    pub class: &'a str,
    /// Its message (empty when it has none).
    pub message: &'a str,
    /// Where it was thrown: the top stack frame, e.g. `app.Gps.fix(Gps.kt:42)`.
    pub location: &'a str,
    /// The name of the thread it ended.
    pub thread: &'a str,
    /// The whole stack trace, causes included, as the runtime prints it.
    pub stack: &'a str,
}

impl UncaughtException<'_> {
    /// The tombstone's message: `class: message`, as `Throwable.toString()` reads.
    fn headline(&self) -> String {
        if self.message.is_empty() {
            self.class.to_owned()
        } else {
            format!("{}: {}", self.class, self.message)
        }
    }
}

/// Writes the tombstone of `e` into `recorder`; returns its sequence number (0 when the
/// recorder is closed). Long text is cut at the record limit with the truncation marker.
pub(crate) fn record(
    recorder: &FlightRecorder,
    app_version: &str,
    e: &UncaughtException<'_>,
) -> u64 {
    // The metrics of the last second, before the tombstone (only tries entry locks).
    recorder.flush_metrics();
    let uptime_ms = super::current_target()
        .filter(|t| t.recorder.ring_ptr() == recorder.ring_ptr())
        .map_or(0, super::CrashTarget::uptime_ms);
    let headline = e.headline();
    let os = super::os_string();
    let seq = recorder.crash::<MAX_RECORD>(
        CrashKind::Exception,
        0,
        uptime_ms,
        [
            headline.as_bytes(),
            e.location.as_bytes(),
            e.thread.as_bytes(),
            e.stack.as_bytes(),
            app_version.as_bytes(),
            os.as_bytes(),
        ],
    );
    if seq != 0 {
        super::count_crash();
    }
    seq
}

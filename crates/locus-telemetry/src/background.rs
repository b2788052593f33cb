//! Telemetry's own threads run at background priority, as Android's
//! `THREAD_PRIORITY_BACKGROUND` does for work the user is not waiting on.
//!
//! Why: on a phone with few cores, an upload thread compressing a batch or doing a TLS
//! handshake competes with the app for a core. At nice 10 the kernel gives the app's
//! threads about nine tenths of a contended core and lets them preempt ours on wake-up,
//! so telemetry yields instead of making the tracking loop late. Threads that telemetry
//! threads create (the runtime's blocking pool) inherit the setting.
//!
//! It also keeps the flag that says "this is a telemetry thread": telemetry must never
//! feed on itself, so the `tracing` layer ignores events emitted on such a thread (the S3
//! and HTTP clients log through `tracing` too), and the panic hook does not count a
//! panic there as a crash of the app.

use std::cell::Cell;

/// Lowers the calling thread's priority to nice 10. Best effort: failure changes nothing
/// else, so it is ignored.
pub(crate) fn lower_current_thread_priority() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: gettid and setpriority take no pointers; on Linux a thread id selects
        // just that thread for PRIO_PROCESS.
        unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
        }
    }
}

thread_local! {
    static TELEMETRY_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Marks the calling thread as telemetry's own: its events are not recorded.
pub(crate) fn mark_telemetry_thread() {
    let _ = TELEMETRY_THREAD.try_with(|t| t.set(true));
}

/// Marks the calling thread as telemetry's own until the guard is dropped (start-up:
/// a panic inside telemetry's own start is not a crash of the app).
pub(crate) struct TelemetryThreadScope {
    was: bool,
}

impl TelemetryThreadScope {
    pub(crate) fn enter() -> TelemetryThreadScope {
        let was = TELEMETRY_THREAD
            .try_with(|t| t.replace(true))
            .unwrap_or(true);
        TelemetryThreadScope { was }
    }
}

impl Drop for TelemetryThreadScope {
    fn drop(&mut self) {
        let was = self.was;
        let _ = TELEMETRY_THREAD.try_with(|t| t.set(was));
    }
}

/// Whether the calling thread is telemetry's own.
pub(crate) fn on_telemetry_thread() -> bool {
    TELEMETRY_THREAD.try_with(|t| t.get()).unwrap_or(false)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_calling_thread_and_only_it_gets_nice_10() {
        // SAFETY: as above; getpriority takes no pointers.
        let nice = || unsafe {
            *libc::__errno_location() = 0;
            libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
        };
        let before = nice();
        let inside = std::thread::spawn(move || {
            super::lower_current_thread_priority();
            nice()
        })
        .join()
        .expect("thread");
        assert_eq!(inside, 10.max(before));
        assert_eq!(nice(), before, "the caller's own thread is untouched");
    }
}

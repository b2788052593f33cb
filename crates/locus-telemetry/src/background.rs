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
use std::sync::Mutex;

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

/// Starts one of telemetry's own threads: the only way telemetry starts a thread, so
/// that none can forget what each must do first. The thread is marked as telemetry's
/// (its events are not recorded, its panics are not the app's crashes), runs at
/// background priority, and a panic that reaches its top is caught and kept as a
/// telemetry failure ([`failures_since`], shown in `status()`), never unwound further.
pub(crate) fn spawn(
    name: &'static str,
    stack_size: usize,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(stack_size)
        .spawn(move || {
            mark_telemetry_thread();
            lower_current_thread_priority();
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                let why = crate::crash::payload_text(panic.as_ref()).unwrap_or("Box<dyn Any>");
                note_failure(format!(
                    "telemetry's thread {name} panicked ({why}) and is gone; the app and \
                     recording go on without it"
                ));
            }
        })
        .map(drop)
}

/// Telemetry failures kept at most (the newest win).
const MAX_FAILURES: usize = 8;

/// Failures of telemetry's own threads, numbered in order: (number, what happened).
static FAILURES: Mutex<(u64, Vec<(u64, String)>)> = Mutex::new((0, Vec::new()));

fn note_failure(what: String) {
    let mut f = FAILURES.lock().unwrap_or_else(|e| e.into_inner());
    f.0 += 1;
    let n = f.0;
    if f.1.len() == MAX_FAILURES {
        f.1.remove(0);
    }
    f.1.push((n, what));
}

/// The number of the last failure so far: a telemetry started now reports the ones
/// after it.
pub(crate) fn failure_mark() -> u64 {
    FAILURES.lock().unwrap_or_else(|e| e.into_inner()).0
}

/// The failures of telemetry's threads after `mark` (see [`failure_mark`]).
pub(crate) fn failures_since(mark: u64) -> Vec<String> {
    let f = FAILURES.lock().unwrap_or_else(|e| e.into_inner());
    f.1.iter()
        .filter(|(n, _)| *n > mark)
        .map(|(_, w)| w.clone())
        .collect()
}

/// The thread a test asked to panic (feature `internals`).
#[cfg(feature = "internals")]
static INJECTED_PANIC: Mutex<Option<&'static str>> = Mutex::new(None);

/// Asks telemetry's thread `name` to panic at its next look (feature `internals`).
#[cfg(feature = "internals")]
pub(crate) fn inject_panic(name: &'static str) {
    *INJECTED_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(name);
}

/// Panics if a test asked thread `name` to (once); nothing without feature `internals`.
pub(crate) fn injected_panic_point(name: &'static str) {
    #[cfg(feature = "internals")]
    {
        let mut asked = INJECTED_PANIC.lock().unwrap_or_else(|e| e.into_inner());
        if *asked == Some(name) {
            *asked = None;
            drop(asked);
            panic!("panic injected on {name} (test)");
        }
    }
    #[cfg(not(feature = "internals"))]
    let _ = name;
}

/// Whether the calling thread is telemetry's own.
pub(crate) fn on_telemetry_thread() -> bool {
    TELEMETRY_THREAD.try_with(|t| t.get()).unwrap_or(false)
}

#[cfg(test)]
mod spawn_tests {
    #[test]
    fn a_spawned_thread_is_marked_and_its_panic_is_kept_as_a_failure() {
        let mark = super::failure_mark();
        let (tx, rx) = std::sync::mpsc::channel();
        super::spawn("locus-test-spawn", 64 * 1024, move || {
            let _ = tx.send(super::on_telemetry_thread());
            panic!("boom in a telemetry thread");
        })
        .unwrap();
        assert!(rx.recv().unwrap(), "marked before the body runs");
        // Waits for the event: the failure noted (the sender is gone once the body ends).
        let failures = loop {
            let f = super::failures_since(mark);
            if f.iter().any(|f| f.contains("locus-test-spawn")) {
                break f;
            }
            std::thread::yield_now();
        };
        assert!(
            failures
                .iter()
                .any(|f| f.contains("boom in a telemetry thread")),
            "{failures:?}"
        );
    }

    /// No spawn site can forget: outside their tests, no source file but this one
    /// starts a thread itself.
    #[test]
    fn only_background_spawn_starts_threads() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![src];
        let mut offenders = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("background.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                if code.contains("thread::Builder") || code.contains("thread::spawn") {
                    offenders.push(path.display().to_string());
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "threads started outside background::spawn: {offenders:?}"
        );
    }
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

//! `fork()` without `exec`: the child must never write the parent's files.
//!
//! Why: after a fork the child shares the ring's mapped pages with the parent
//! (`MAP_SHARED`) but has its own copy of every sequence counter and cursor, so both
//! would write the same slots: torn and lost records, and the child's clean exit written
//! into the parent's session marker. Only the forking thread survives in the child, so
//! telemetry's own threads are gone there anyway.
//!
//! A `pthread_atfork` child handler (registered once, at the first start) sets one flag;
//! the recorder's hot path reads it with one relaxed load (the same cache line as the
//! other checks it makes), the file door refuses every write, and shutdown writes
//! nothing. The pid recorded at start is the second check, for a child made by a raw
//! `clone` that skips the handlers: [`forked`] compares it on the slow paths.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Once;

static FORKED: AtomicBool = AtomicBool::new(false);
static PID: AtomicI32 = AtomicI32::new(0);
static INSTALL: Once = Once::new();

extern "C" fn in_child() {
    FORKED.store(true, Ordering::Relaxed);
}

/// Registers the fork handler and notes this process's pid (once per process).
pub(crate) fn install() {
    INSTALL.call_once(|| {
        PID.store(std::process::id() as i32, Ordering::Relaxed);
        // SAFETY: pthread_atfork with a plain extern "C" function and no other handlers;
        // the handler only stores an atomic (async-signal-safe, as a child handler must be).
        unsafe {
            libc::pthread_atfork(None, None, Some(in_child));
        }
    });
}

/// Whether this process is a forked child of the one that started telemetry (the hot
/// path: one relaxed load).
#[inline]
pub(crate) fn forked_fast() -> bool {
    FORKED.load(Ordering::Relaxed)
}

/// Whether this process is a forked child of the one that started telemetry: the
/// handler's flag, or a pid that is not the one noted at start.
pub(crate) fn forked() -> bool {
    if FORKED.load(Ordering::Relaxed) {
        return true;
    }
    let pid = PID.load(Ordering::Relaxed);
    if pid != 0 && pid != std::process::id() as i32 {
        FORKED.store(true, Ordering::Relaxed);
        return true;
    }
    false
}

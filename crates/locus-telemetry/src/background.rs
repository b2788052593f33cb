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
    spawn_with_pool(name, stack_size, 0, body)
}

/// [`spawn`] for a thread that will itself start up to `pool_threads` helper threads
/// (the upload runtime's blocking pool): the address space is checked for all of them.
pub(crate) fn spawn_with_pool(
    name: &'static str,
    stack_size: usize,
    pool_threads: usize,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<()> {
    address_space::room_for(stack_size, pool_threads)?;
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

/// Whether telemetry's threads fit in the address space the process may use.
///
/// Why: under an address-space limit (`RLIMIT_AS`, set by some sandboxes, batch systems
/// and `ulimit -v`), a thread costs far more than its stack. glibc gives every thread
/// that allocates its own malloc arena: 64 MiB of address space reserved, and 128 MiB
/// mapped for a moment while it is aligned. When that cannot be mapped, the thread's
/// allocations fall back to one `mmap` each (a page for a 192-byte allocation), the
/// space runs out, and Rust aborts the whole process on the next failed allocation
/// ("memory allocation of 192 bytes failed": seen by `scripts/fault-sweep` at
/// `RLIMIT_AS` = 96 MiB, where the story's process needs 23 MB and its four threads
/// reserve 219 MB). The app's own threads would have fitted. So telemetry starts a
/// thread only when the space left under the limit holds it and its arena with room to
/// spare; otherwise it says so in `status()` and leaves the space to the app (recording
/// goes on into the ring; uploads, the keeper, or the background start step do not
/// run). Without a limit (the usual case, Android included) this reads nothing.
pub(crate) mod address_space {
    use std::io;

    /// What a thread of telemetry's may reserve besides its stack: the 128 MiB that
    /// glibc maps while it aligns a new 64 MiB malloc arena, and 32 MiB for what the
    /// thread then allocates.
    pub(crate) const PER_THREAD: u64 = (128 + 32) << 20;
    /// What each further thread of a pool may reserve besides its stack: its arena
    /// (64 MiB) and a 2 MiB stack.
    pub(crate) const PER_POOL_THREAD: u64 = (64 + 2) << 20;

    /// Why a thread of telemetry's was not started.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    #[error(
        "the address-space limit (RLIMIT_AS, {} MiB) leaves {} MiB free and telemetry's \
         thread needs up to {} MiB (its stack and a malloc arena): not started, the \
         space is left to the app",
        limit >> 20, free >> 20, needed >> 20
    )]
    pub struct AddressSpaceShort {
        /// The limit, in bytes.
        pub limit: u64,
        /// What the limit leaves free now, in bytes.
        pub free: u64,
        /// What the thread (and its pool) may reserve, in bytes.
        pub needed: u64,
    }

    /// `Ok` when a thread with `stack` bytes of stack and `pool_threads` helpers fits.
    pub(crate) fn room_for(stack: usize, pool_threads: usize) -> io::Result<()> {
        let Some(limit) = limit() else {
            return Ok(());
        };
        let needed = (stack as u64)
            .saturating_add(PER_THREAD)
            .saturating_add(PER_POOL_THREAD.saturating_mul(pool_threads as u64));
        // The process's size now; unreadable (no /proc) counts as nothing used, so the
        // limit alone decides.
        let free = limit.saturating_sub(used().unwrap_or(0));
        if free >= needed {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                AddressSpaceShort {
                    limit,
                    free,
                    needed,
                },
            ))
        }
    }

    /// The soft `RLIMIT_AS`, when there is one.
    fn limit() -> Option<u64> {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own; it takes no other pointer.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut l) } == 0;
        #[allow(clippy::unnecessary_cast)] // rlim_t is 32 bits on 32-bit Android
        let cur = l.rlim_cur as u64;
        (ok && l.rlim_cur != libc::RLIM_INFINITY).then_some(cur)
    }

    /// The process's virtual size in bytes (`/proc/self/statm`, first field, in pages),
    /// read into a stack buffer: nothing allocated while space may be short.
    fn used() -> Option<u64> {
        use std::io::Read;
        let mut buf = [0u8; 128];
        let mut file = std::fs::File::open("/proc/self/statm").ok()?;
        let n = file.read(&mut buf).ok()?;
        let text = std::str::from_utf8(buf.get(..n)?).ok()?;
        let pages: u64 = text.split_ascii_whitespace().next()?.parse().ok()?;
        // SAFETY: sysconf takes no pointers.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        pages.checked_mul(u64::try_from(page).ok()?)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_process_size_is_read_and_no_limit_means_room() {
            let used = super::used().expect("/proc/self/statm");
            assert!(used > 1 << 20, "{used}");
            if super::limit().is_none() {
                assert!(super::room_for(2 << 20, 8).is_ok());
            }
        }
    }
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

//! Surviving a ring file cut short under its mapping.
//!
//! A shared file mapping raises SIGBUS when a page beyond the file's end is touched, and
//! any process that can write the data dir can truncate the ring while the app runs
//! (`truncate -s 0 recorder.ring`). Unhandled, that kills the app — the one thing
//! telemetry must never do. Reserving the blocks at open (`posix_fallocate`) rules out
//! the full-disk variant, but nothing can stop another process from shrinking the file.
//!
//! So every mapped ring is registered here, and a SIGBUS handler checks whether the
//! faulting address lies inside one. If it does, the whole mapping is replaced in place
//! by anonymous memory (`mmap(MAP_FIXED | MAP_ANONYMOUS)`, one syscall), the ring is
//! marked as lost to the file, and the handler returns: the faulting instruction runs
//! again on the new memory and the recorder carries on as a heap ring. `status()` then
//! says the file was lost. Any other SIGBUS goes to the handler that was there before
//! (the crash reporter's, Rust's, the JVM's), or kills as it would have.
//!
//! The handler only loads atomics and calls `mmap`, so it is async-signal-safe, and the
//! registry is a fixed array of atomics: registering and unregistering never allocate
//! or lock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Once;

/// How many mapped rings may be guarded at once (one per recorder; tests open many).
const REGIONS: usize = 64;

struct Region {
    start: AtomicUsize,
    len: AtomicUsize,
    /// Set once the mapping was replaced by anonymous memory.
    lost: AtomicBool,
    /// Set while one thread replaces the mapping.
    replacing: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // the array initialiser below, only
const FREE: Region = Region {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    lost: AtomicBool::new(false),
    replacing: AtomicBool::new(false),
};
static TABLE: [Region; REGIONS] = [FREE; REGIONS];

static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// The SIGBUS disposition before ours; written once by `install` before INSTALLED.
static mut PREVIOUS: std::mem::MaybeUninit<libc::sigaction> = std::mem::MaybeUninit::zeroed();

/// A registered mapping. Unregisters on drop: drop it before unmapping.
#[derive(Debug)]
pub(crate) struct Guard {
    index: usize,
}

impl Guard {
    /// Whether the mapping was replaced by anonymous memory after a SIGBUS.
    pub fn lost(&self) -> bool {
        TABLE[self.index].lost.load(Ordering::Acquire)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let r = &TABLE[self.index];
        r.len.store(0, Ordering::Release);
        r.start.store(0, Ordering::Release);
    }
}

/// Registers `len` bytes of mapping at `start` and makes sure the handler is installed.
/// `None` when the table is full (the caller then does not use the mapping).
pub(crate) fn register(start: *const u8, len: usize) -> Option<Guard> {
    install();
    if !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    let start = start as usize;
    for (index, r) in TABLE.iter().enumerate() {
        if r.start
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            r.lost.store(false, Ordering::Relaxed);
            r.replacing.store(false, Ordering::Relaxed);
            r.len.store(len, Ordering::Release);
            return Some(Guard { index });
        }
    }
    None
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: sigaction with a zeroed struct filled as documented; PREVIOUS is written
        // only here, once, before INSTALLED is published.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let prev = std::ptr::addr_of_mut!(PREVIOUS).cast::<libc::sigaction>();
            libc::sigaction(libc::SIGBUS, &action, prev)
        };
        if rc == 0 {
            INSTALLED.store(true, Ordering::Release);
        }
    });
}

/// If `addr` lies in a registered mapping, replaces that mapping by anonymous memory and
/// returns true: the faulting access may be retried. Async-signal-safe.
pub(crate) fn recover(addr: usize) -> bool {
    for r in &TABLE {
        let start = r.start.load(Ordering::Acquire);
        let len = r.len.load(Ordering::Acquire);
        if start == 0 || addr < start || addr - start >= len {
            continue;
        }
        if r.lost.load(Ordering::Acquire) {
            return true; // already replaced: the retry lands in anonymous memory
        }
        if r.replacing.swap(true, Ordering::AcqRel) {
            return true; // another thread is replacing it: retry until it is done
        }
        // SAFETY: [start, start + len) is a mapping we own (registered until unmapped);
        // MAP_FIXED replaces it atomically with zeroed anonymous memory of the same size.
        // Page size: `start` is where mmap put the ring, a page boundary at any page size,
        // and the kernel rounds `len` up to a whole page exactly as it did for the ring's
        // own mapping, so this covers that mapping and nothing beyond it.
        let p = unsafe {
            libc::mmap(
                start as *mut libc::c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_FIXED | libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            r.replacing.store(false, Ordering::Release);
            return false;
        }
        r.lost.store(true, Ordering::Release);
        return true;
    }
    false
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    if fault_in_ring(info) {
        return;
    }
    if !INSTALLED.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: PREVIOUS was initialised by `install` before INSTALLED was set.
    unsafe { chain(std::ptr::addr_of!(PREVIOUS).cast(), sig, info, ctx) }
}

/// Whether the signal described by `info` was a fault in a ring mapping, now recovered.
pub(crate) fn fault_in_ring(info: *const libc::siginfo_t) -> bool {
    if info.is_null() {
        return false;
    }
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    recover(addr)
}

/// Hands a signal to the disposition that was in place before ours: calls its handler,
/// or restores it and lets the signal act as it would have (a fault re-executes the
/// faulting instruction on return; `raise` covers the rest).
///
/// # Safety
/// `prev` must point to a `sigaction` filled in by the kernel for `sig`.
pub(crate) unsafe fn chain(
    prev: *const libc::sigaction,
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut libc::c_void,
) {
    // SAFETY: the caller guarantees `prev` is a valid sigaction; calling the previous
    // handler with the arguments the kernel gave us is what it was installed for.
    unsafe {
        let handler = (*prev).sa_sigaction;
        if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
            if (*prev).sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(handler);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                f(sig);
            }
            return;
        }
        libc::sigaction(sig, prev, std::ptr::null_mut());
        libc::raise(sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_outside_every_region_are_not_claimed() {
        let buf = vec![0u8; 4096];
        let guard = register(buf.as_ptr(), buf.len()).expect("a free region");
        assert!(!recover(buf.as_ptr() as usize + buf.len()));
        assert!(!recover(1));
        assert!(!guard.lost());
        drop(guard);
        assert!(!recover(buf.as_ptr() as usize), "unregistered on drop");
    }
}

//! Fatal signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT): a minimal tombstone from an
//! async-signal-safe handler, then the process dies as it would have.
//!
//! The handler only does what is safe in a signal context: atomic loads, a stack
//! buffer, `clock_gettime`, and lock-free writes into dedicated ring chunks (never the
//! thread's own lease, which the signal may have interrupted). Then it restores the
//! previous disposition and re-raises, or calls the previously installed handler, so
//! Rust's own stack-overflow report and any crash reporter installed before us still run.

use super::current_target;
use crate::record::CrashKind;
use crate::recorder::fault;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Once;

const SIGNALS: [libc::c_int; 5] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
];

/// The dispositions in place before ours, by signal (index as in `SIGNALS`).
static mut PREVIOUS: [std::mem::MaybeUninit<libc::sigaction>; 5] =
    [std::mem::MaybeUninit::zeroed(); 5];
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Fatal signals that other processes sent (not crashes), for `status()` and tests.
pub(crate) static FOREIGN: AtomicU64 = AtomicU64::new(0);
static INSTALL: Once = Once::new();

fn name(sig: libc::c_int) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV (invalid memory access)",
        libc::SIGBUS => "SIGBUS (bus error)",
        libc::SIGILL => "SIGILL (illegal instruction)",
        libc::SIGFPE => "SIGFPE (arithmetic exception)",
        libc::SIGABRT => "SIGABRT (abort)",
        _ => "fatal signal",
    }
}

/// Our disposition: `handler`, with siginfo, on the alternate stack if there is one.
fn our_action() -> libc::sigaction {
    // SAFETY: a zeroed sigaction is a valid value to fill; sigemptyset is
    // async-signal-safe and only writes the mask we pass.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        action
    }
}

/// Installs the handlers once per process.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            let action = our_action();
            // SAFETY: PREVIOUS is written only here, once, before INSTALLED is published.
            unsafe {
                let prev = std::ptr::addr_of_mut!(PREVIOUS[i]).cast::<libc::sigaction>();
                libc::sigaction(sig, &action, prev);
            }
        }
        INSTALLED.store(true, Ordering::Release);
    });
}

/// Whether the signal was sent by another process (`kill`, `sigqueue`, `tgkill` from
/// outside) rather than raised by a fault or by this process itself (`abort()` raises
/// SIGABRT with this process's own pid): `si_code <= 0` means it came from user space.
///
/// # Safety
/// `info` is the siginfo the kernel passed to an `SA_SIGINFO` handler.
unsafe fn sent_by_another_process(info: *const libc::siginfo_t) -> bool {
    if info.is_null() {
        return false;
    }
    // SAFETY: the kernel's siginfo; for si_code <= 0 the sender's pid is set.
    unsafe {
        if (*info).si_code > 0 {
            return false;
        }
        (*info).si_pid() != libc::getpid()
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // A ring file cut short under its mapping is survived, not a crash (see
    // `recorder::fault`): no tombstone, and the access is retried on anonymous memory.
    if sig == libc::SIGBUS && fault::fault_in_ring(info) {
        return;
    }
    // SAFETY: `info` is what the kernel passed us.
    if unsafe { sent_by_another_process(info) } {
        FOREIGN.fetch_add(1, Ordering::Relaxed);
        forward_foreign(sig, info, ctx);
        return;
    }
    if let Some((target, recorder)) =
        current_target().and_then(|t| Some((t, t.recorder.upgrade()?)))
    {
        // Never dropped here: were this the last handle, its drop would free the ring and
        // flush metrics (allocation, locks) inside a signal handler. The process is dying.
        let recorder = std::mem::ManuallyDrop::new(recorder);
        let mut tid_buf = [0u8; 24];
        let tid = format_tid(&mut tid_buf);
        recorder.crash::<384>(
            CrashKind::Signal,
            sig,
            target.uptime_ms(),
            [
                name(sig).as_bytes(),
                b"",
                tid,
                b"",
                target.app_version.as_bytes(),
                target.os.as_bytes(),
            ],
        );
    }
    let Some(i) = SIGNALS.iter().position(|&s| s == sig) else {
        return;
    };
    if !INSTALLED.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: PREVIOUS[i] was initialised by `install` before INSTALLED was set.
    unsafe { fault::chain(std::ptr::addr_of!(PREVIOUS[i]).cast(), sig, info, ctx) }
}

/// A signal another process sent: no crash of ours, so no tombstone. It gets what it
/// would have got without telemetry (the previous disposition: the default kills, a
/// handler runs); if the process lives on, our handler is put back, since a previous
/// handler (Rust's own SIGSEGV handler does this) may have reset the disposition.
fn forward_foreign(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(i) = SIGNALS.iter().position(|&s| s == sig) else {
        return;
    };
    if !INSTALLED.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: PREVIOUS[i] was initialised by `install` before INSTALLED was set, and is
    // never written again.
    let prev: *const libc::sigaction = unsafe { std::ptr::addr_of!(PREVIOUS[i]).cast() };
    // SAFETY: as above.
    let previous = unsafe { (*prev).sa_sigaction };
    if previous == libc::SIG_IGN {
        return;
    }
    // SAFETY: as above. With the default disposition this re-raises the signal, which
    // is delivered (and ends the process) once this handler returns: ours must not be
    // put back then, or it would see the re-raised signal as this process's own.
    unsafe { fault::chain(prev, sig, info, ctx) };
    if previous == libc::SIG_DFL {
        return;
    }
    let action = our_action();
    // SAFETY: sigaction is async-signal-safe; `action` is a valid disposition.
    unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
}

/// "tid 12345" into a stack buffer, without allocating.
fn format_tid(buf: &mut [u8; 24]) -> &[u8] {
    // SAFETY: gettid has no preconditions.
    let mut tid = unsafe { libc::gettid() } as u64;
    let prefix = b"tid ";
    buf[..4].copy_from_slice(prefix);
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (tid % 10) as u8;
        n += 1;
        tid /= 10;
        if tid == 0 {
            break;
        }
    }
    for i in 0..n {
        buf[4 + i] = digits[n - 1 - i];
    }
    &buf[..4 + n]
}

//! The panic hook: a tombstone for a panic on any thread, then the previous hook.
//!
//! The hook never waits on a lock of ours (the recorder is lock-free, aggregated metrics
//! are flushed with `try_lock` only) and reads its target through an atomic pointer, so
//! a panic while any lock is held cannot deadlock here.
//! A panic inside the hook itself (re-entry on the same thread) is not recorded twice.
//!
//! **Nothing is allocated or symbolised on the panicking thread.** A panic is often the
//! sign of a process in trouble, and memory pressure is the commonest: std's
//! `Backtrace` symbolises under a process-wide lock and allocates while it holds it, and
//! std's out-of-memory path takes the same lock — a deadlock seen under `RLIMIT_AS`. So
//! the location and thread name are written into stack buffers, and the backtrace is the
//! raw return addresses from the unwinder (`_Unwind_Backtrace`, which std's own
//! unwinding uses), with offsets into the image that holds telemetry (found once at
//! install): `addr2line -f -C -e IMAGE OFFSET` symbolises them later, away from the
//! failing process.
//!
//! A panic on one of telemetry's own threads is caught there and counted as a failed
//! upload: it is no crash of the app, and the previous hook (std's default prints, and
//! may symbolise) is not called for it either.

use super::{count_crash, current_target, CrashTarget};
use crate::record::CrashKind;
use crate::recorder::layout::MAX_RECORD;
use std::cell::Cell;
use std::ffi::c_void;
use std::fmt::Write as _;
use std::panic::PanicHookInfo;
use std::sync::Once;

thread_local! {
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

/// Installs the hook once per process, chaining whatever hook was there before.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // Telemetry's own thread: caught where it happened, reported as a problem
            // of telemetry; nothing is printed or symbolised for it.
            if crate::background::on_telemetry_thread() {
                return;
            }
            record(info);
            previous(info);
        }));
    });
}

fn record(info: &PanicHookInfo<'_>) {
    let Some(target) = current_target() else {
        return;
    };
    // Re-entry (a panic inside this hook), or a thread whose locals are already gone:
    // write nothing rather than risk a panic inside the panic hook.
    if IN_HOOK.try_with(|f| f.replace(true)).unwrap_or(true) {
        return;
    }
    count_crash();
    write_tombstone(target, info);
    let _ = IN_HOOK.try_with(|f| f.set(false));
}

/// Text written into a fixed stack buffer; what does not fit is cut.
pub(crate) struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    pub(crate) const fn new() -> Self {
        StackText {
            buf: [0; N],
            len: 0,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> std::fmt::Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let room = N - self.len;
        let mut n = s.len().min(room);
        // Never cut inside a UTF-8 sequence.
        while n > 0 && !s.is_char_boundary(n) {
            n -= 1;
        }
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() {
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}

/// The calling thread's name, without allocating: the OS's copy (at most 15 bytes;
/// "main" for the main thread). A name of exactly 15 bytes may be cut short there, and
/// std keeps the whole one for the threads it started (`thread::current()` only clones a
/// handle for those; it allocates only for a thread std has never seen, which also has
/// no longer name to find).
fn thread_name<'a>(buf: &'a mut [u8; 16], whole: &'a mut Option<std::thread::Thread>) -> &'a [u8] {
    let os = os_thread_name(buf);
    if os.len() == 15 {
        let current = whole.insert(std::thread::current());
        if let Some(name) = current.name() {
            return name.as_bytes();
        }
    }
    os
}

fn os_thread_name(buf: &mut [u8; 16]) -> &[u8] {
    // SAFETY: gettid and getpid have no preconditions.
    if unsafe { libc::gettid() == libc::getpid() } {
        return b"main";
    }
    // SAFETY: PR_GET_NAME writes at most 16 bytes (NUL included) into the buffer.
    let rc = unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) };
    if rc != 0 {
        return b"<unnamed>";
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    &buf[..n]
}

/// The most frames a tombstone carries.
const MAX_FRAMES: usize = 64;

#[repr(C)]
struct UnwindContext {
    _private: [u8; 0],
}

type TraceFn = extern "C" fn(*mut UnwindContext, *mut c_void) -> libc::c_int;

extern "C" {
    // The unwinder std itself links (libgcc_s, or LLVM libunwind on Android).
    fn _Unwind_Backtrace(trace: TraceFn, arg: *mut c_void) -> libc::c_int;
    fn _Unwind_GetIP(ctx: *mut UnwindContext) -> usize;
}

struct Frames {
    ips: [usize; MAX_FRAMES],
    n: usize,
}

extern "C" fn one_frame(ctx: *mut UnwindContext, arg: *mut c_void) -> libc::c_int {
    const URC_NO_REASON: libc::c_int = 0;
    const URC_END_OF_STACK: libc::c_int = 5;
    // SAFETY: `arg` is the `Frames` passed to `_Unwind_Backtrace` below, alive for the
    // whole walk; `ctx` is the unwinder's own context for this frame.
    let frames = unsafe { &mut *arg.cast::<Frames>() };
    if frames.n >= MAX_FRAMES {
        return URC_END_OF_STACK;
    }
    // SAFETY: as above.
    let ip = unsafe { _Unwind_GetIP(ctx) };
    if ip == 0 {
        return URC_END_OF_STACK;
    }
    frames.ips[frames.n] = ip;
    frames.n += 1;
    URC_NO_REASON
}

/// The return addresses of the calling thread's stack: no allocation, no symbols.
fn raw_frames() -> Frames {
    let mut frames = Frames {
        ips: [0; MAX_FRAMES],
        n: 0,
    };
    // SAFETY: the callback only writes into `frames`, which outlives the call.
    unsafe { _Unwind_Backtrace(one_frame, std::ptr::addr_of_mut!(frames).cast()) };
    frames
}

/// Where telemetry's own code is loaded: its image's path and base address, found once
/// at install (never in the hook).
pub(crate) struct Image {
    pub path: String,
    pub base: usize,
}

/// The image that holds this function, by `dladdr`.
pub(crate) fn own_image() -> Option<Image> {
    let mut info = libc::Dl_info {
        dli_fname: std::ptr::null(),
        dli_fbase: std::ptr::null_mut(),
        dli_sname: std::ptr::null(),
        dli_saddr: std::ptr::null_mut(),
    };
    // SAFETY: dladdr reads the loader's tables and writes into `info`; the name it
    // returns lives as long as the image stays loaded, and is copied at once.
    let found = unsafe { libc::dladdr(own_image as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated name from the loader (checked non-null above).
    let path = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) }
        .to_string_lossy()
        .into_owned();
    Some(Image {
        path,
        base: info.dli_fbase as usize,
    })
}

/// "   0: 0x… (image+0x…)" lines, one per frame, into a stack buffer.
fn write_frames<const N: usize>(out: &mut StackText<N>, frames: &Frames, image: Option<&Image>) {
    if let Some(image) = image {
        let _ = writeln!(
            out,
            "raw frames; symbolise with: addr2line -f -C -e {} OFFSET",
            image.path
        );
    }
    for (i, &ip) in frames.ips[..frames.n].iter().enumerate() {
        // A return address points after the call: one byte back is inside it.
        let pc = ip.saturating_sub(1);
        let _ = match image {
            Some(img) if pc >= img.base && pc - img.base < (1 << 32) => {
                writeln!(out, "{i:4}: {pc:#x} (+{:#x})", pc - img.base)
            }
            _ => writeln!(out, "{i:4}: {pc:#x}"),
        };
    }
}

fn write_tombstone(target: &CrashTarget, info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = super::payload_text(payload).unwrap_or("Box<dyn Any>");
    let mut location = StackText::<256>::new();
    if let Some(l) = info.location() {
        let _ = write!(location, "{}:{}:{}", l.file(), l.line(), l.column());
    }
    let mut name_buf = [0u8; 16];
    let mut whole = None;
    let thread_name = thread_name(&mut name_buf, &mut whole);
    let frames = raw_frames();
    let mut backtrace = StackText::<2048>::new();
    write_frames(&mut backtrace, &frames, target.image.as_ref());
    let Some(recorder) = target.recorder.upgrade() else {
        return;
    };
    // The metrics of the last second, before the tombstone (only tries entry locks).
    recorder.flush_metrics();
    recorder.crash::<MAX_RECORD>(
        CrashKind::Panic,
        0,
        target.uptime_ms(),
        [
            message.as_bytes(),
            location.as_bytes(),
            thread_name,
            backtrace.as_bytes(),
            target.app_version.as_bytes(),
            target.os.as_bytes(),
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_text_cuts_on_a_char_boundary() {
        let mut t = StackText::<5>::new();
        assert!(write!(t, "abcdé").is_err());
        assert_eq!(t.as_bytes(), b"abcd");
    }

    #[test]
    fn frames_are_raw_addresses_with_offsets_into_our_image() {
        let image = own_image().expect("dladdr finds our own image");
        let frames = raw_frames();
        assert!(frames.n > 2, "the unwinder walked {} frames", frames.n);
        let mut out = StackText::<4096>::new();
        write_frames(&mut out, &frames, Some(&image));
        let text = String::from_utf8(out.as_bytes().to_vec()).unwrap();
        assert!(text.contains("   0: 0x"), "{text}");
        assert!(text.contains("(+0x"), "{text}");
        assert!(text.contains(&image.path), "{text}");
    }
}

//! The panic hook: a tombstone for a panic on any thread, then the previous hook.
//!
//! The hook never waits on a lock of ours (the recorder is lock-free, aggregated metrics
//! are flushed with `try_lock` only) and reads its target through an atomic pointer, so
//! a panic while any lock is held cannot deadlock here.
//! A panic inside the hook itself (re-entry on the same thread) is not recorded twice.

use super::{count_crash, current_target, CrashTarget};
use crate::record::CrashKind;
use crate::recorder::layout::MAX_RECORD;
use std::cell::Cell;
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
            record(info);
            previous(info);
        }));
    });
}

fn record(info: &PanicHookInfo<'_>) {
    let Some(target) = current_target() else {
        return;
    };
    // A panic in telemetry's own thread is caught there and logged as a failed upload;
    // it is not a crash of the app and must not count as one.
    if crate::background::on_telemetry_thread() {
        return;
    }
    // Re-entry (a panic inside this hook), or a thread whose locals are already gone:
    // write nothing rather than risk a panic inside the panic hook.
    if IN_HOOK.try_with(|f| f.replace(true)).unwrap_or(true) {
        return;
    }
    count_crash();
    write_tombstone(target, info);
    let _ = IN_HOOK.try_with(|f| f.set(false));
}

fn write_tombstone(target: &CrashTarget, info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = super::payload_text(payload).unwrap_or("Box<dyn Any>");
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    let thread = std::thread::current();
    let thread_name = thread.name().unwrap_or("<unnamed>");
    let backtrace = std::backtrace::Backtrace::force_capture().to_string();
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
            thread_name.as_bytes(),
            backtrace.as_bytes(),
            target.app_version.as_bytes(),
            target.os.as_bytes(),
        ],
    );
}

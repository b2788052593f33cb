//! The pretoucher: a small thread that keeps the ring pages just ahead of the writers
//! mapped and writable, so the app's threads never take the page fault themselves
//! (the same trick as Chronicle Queue's pretoucher).
//!
//! Why it matters: a write to a shared file page that is not mapped yet, or that the
//! kernel's writeback cleaned and write-protected, faults into the filesystem. Measured
//! in the 100 Hz tracking loop, that was one iteration in twelve paying tens of
//! microseconds: the whole p99. The thread wakes four times a second, does nothing when
//! nothing was written, and ends by itself once the recorder is dropped.

use super::Shared;
use std::sync::Weak;
use std::time::Duration;

/// How far ahead of the chunk cursor the memory is kept ready: seconds of records at
/// any plausible logging rate, and an eighth of the default ring.
pub(crate) const AHEAD_BYTES: usize = 128 * 1024;
/// How often the thread looks.
const INTERVAL: Duration = Duration::from_millis(250);

/// Starts the pretoucher for `shared`. A thread that cannot start only costs the
/// writers their page faults, so failure is silent.
pub(crate) fn spawn(shared: Weak<Shared>) {
    let _ = std::thread::Builder::new()
        .name("locus-pretouch".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            match shared.upgrade() {
                Some(s) => {
                    s.ring.pretouch(AHEAD_BYTES);
                }
                None => return,
            }
            std::thread::sleep(INTERVAL);
        });
}

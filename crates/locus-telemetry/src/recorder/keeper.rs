//! The keeper: one small thread per recorder that does, off the app's threads, the two
//! chores that would otherwise land on them.
//!
//! - **Pretouching** (Chronicle Queue's trick): the ring pages just ahead of the writers
//!   are kept mapped and writable. A write to a shared file page that is not mapped, or
//!   that writeback cleaned and write-protected, faults into the filesystem
//!   (`page_mkwrite`); in the 100 Hz tracking loop that was one iteration in twelve
//!   paying tens of microseconds, the whole p99.
//! - **Flushing metrics**: counters and histograms aggregated in memory are written into
//!   the ring every second.
//! - **Verbosity**: once a second it ends an expired raise of the recorded level and
//!   applies a changed `verbosity.json` (see [`super::verbosity`]): one `stat`.
//!
//! - **Watching loops for hangs**: at every look (four a second) it compares each
//!   watched loop's last beat with its `max_gap` and records hangs as they start and
//!   end (see [`crate::watchdog`]); allocation-free.
//!
//! It wakes four times a second, does nothing when nothing was written, holds only a
//! weak reference, and ends as soon as the recorder is dropped (the recorder holds the
//! sending end of a channel the keeper waits on).

use super::Shared;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Weak;
use std::time::Duration;

/// How far ahead of the chunk cursor the memory is kept ready: seconds of records at
/// any plausible logging rate, and an eighth of the default ring.
pub(crate) const AHEAD_BYTES: usize = 128 * 1024;
/// The thread's name.
const NAME: &str = "locus-keeper";
/// How often the thread looks.
const INTERVAL: Duration = Duration::from_millis(250);
/// Metrics are flushed every this many looks (one second).
const FLUSH_EVERY: u32 = 4;

/// Starts the keeper for `shared`. A thread that cannot start costs the writers their
/// page faults and leaves metrics to be flushed by the next read, so failure is silent.
pub(crate) fn spawn(shared: Weak<Shared>, stop: Receiver<()>) {
    // Marked as telemetry's, at background priority, its panics caught: a panic here
    // is telemetry's failure, never a crash of the app.
    let _ = crate::background::spawn(NAME, 64 * 1024, move || {
            // Off the caller's thread (it takes about 2 ms); records use the system clock
            // until it is done.
            crate::clock::calibrate_once();
            let mut looks = 0u32;
            loop {
                crate::background::injected_panic_point(NAME);
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                shared.ring.pretouch(AHEAD_BYTES);
                shared.look_for_hangs();
                looks += 1;
                if looks.is_multiple_of(FLUSH_EVERY) {
                    shared.flush_metrics();
                    shared.verbosity.tick();
                }
                drop(shared);
                match stop.recv_timeout(INTERVAL) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        });
}

//! The dispatcher's protocol with the workers it runs: wake-ups (timer and on demand),
//! stop, the final round before shutdown, and the flush acknowledgements that let the
//! app's `flush` and `shutdown` wait for a round from every worker, within a deadline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Wake-ups, stop and flush acknowledgements between the app and the workers.
#[derive(Debug)]
pub(crate) struct Control {
    wake: Vec<Notify>,
    stop: AtomicBool,
    stop_notify: Notify,
    final_round: AtomicBool,
    flush: Mutex<FlushState>,
    flushed: Condvar,
}

#[derive(Debug)]
struct FlushState {
    requested: u64,
    done: Vec<u64>,
}

impl Control {
    /// Control for `workers` workers.
    pub fn new(workers: usize) -> Arc<Control> {
        Arc::new(Control {
            wake: (0..workers).map(|_| Notify::new()).collect(),
            stop: AtomicBool::new(false),
            stop_notify: Notify::new(),
            final_round: AtomicBool::new(false),
            flush: Mutex::new(FlushState {
                requested: 0,
                done: vec![0; workers],
            }),
            flushed: Condvar::new(),
        })
    }

    /// Wakes every worker for a round.
    pub fn wake_all(&self) {
        for w in &self.wake {
            w.notify_one();
        }
    }

    /// Waits until worker `i` is woken or told to stop.
    pub async fn woken(&self, i: usize) {
        if self.stopping() {
            return;
        }
        tokio::select! {
            _ = self.wake[i].notified() => {}
            _ = self.stopped() => {}
        }
    }

    /// Resolves once stop is requested.
    pub async fn stopped(&self) {
        loop {
            let notified = self.stop_notify.notified();
            if self.stopping() {
                return;
            }
            notified.await;
        }
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.stop_notify.notify_waiters();
        self.wake_all();
    }

    /// Whether this is the last round before shutdown (ship everything, hold nothing).
    pub fn final_round(&self) -> bool {
        self.final_round.load(Ordering::Acquire)
    }

    /// The flush generation a round starting now will satisfy.
    pub fn flush_generation(&self) -> u64 {
        self.flush.lock().map_or(0, |f| f.requested)
    }

    /// Worker `i` finished a round that started at generation `gen`.
    pub fn ack(&self, i: usize, gen: u64) {
        if let Ok(mut f) = self.flush.lock() {
            if f.done[i] < gen {
                f.done[i] = gen;
            }
        }
        self.flushed.notify_all();
    }

    /// Worker `i` will never run again: it satisfies every flush.
    pub fn retire(&self, i: usize) {
        self.ack(i, u64::MAX);
    }

    /// Asks for a round from every worker and waits up to `deadline` for all of them.
    pub fn flush(&self, deadline: Duration, final_round: bool) -> bool {
        // `Instant + Duration::MAX` would panic: a deadline past a year counts as a year.
        let until = Instant::now() + deadline.min(crate::telemetry::LONGEST_WAIT);
        if final_round {
            self.final_round.store(true, Ordering::Release);
        }
        let gen = match self.flush.lock() {
            Ok(mut f) => {
                f.requested += 1;
                f.requested
            }
            Err(_) => return false,
        };
        self.wake_all();
        let Ok(mut f) = self.flush.lock() else {
            return false;
        };
        loop {
            if f.done.iter().all(|&d| d >= gen) {
                return true;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            f = match self.flushed.wait_timeout(f, left) {
                Ok((f, _)) => f,
                Err(_) => return false,
            };
        }
    }
}

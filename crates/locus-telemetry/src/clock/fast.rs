//! The record timestamp, cheaply. `clock_gettime` costs ~20 ns here, a third of a record;
//! on x86_64 with an invariant TSC that the kernel itself uses as its clocksource, the
//! time is instead extrapolated from the TSC off a per-thread base that is re-read from
//! `clock_gettime` every 10 ms of ticks, so the error stays far below a microsecond.
//! Everywhere else, and until calibrated, it is plain `clock_gettime(CLOCK_REALTIME)`.
//! All of it is async-signal-safe (no locks, no allocation, const thread-locals).

// The TSC path (x86_64 only) is all that uses these.
#[cfg(target_arch = "x86_64")]
use std::sync::atomic::{AtomicU64, Ordering};

/// Nanoseconds since the Unix epoch from the system clock, clamped (see [`super`]).
#[inline]
#[allow(clippy::unnecessary_cast)] // time_t and c_long are 32 bits on 32-bit targets
pub(crate) fn system_nanos() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    // Before 1970 or after 2200 the reading is clamped (and noted for status()): the
    // multiplication below cannot overflow, and a timestamp never wraps.
    super::clamp_nanos(ts.tv_sec as i64, ts.tv_nsec as i64)
}

/// Nanoseconds from the monotonic clock (never jumps, never clamped):
/// `clock_gettime(CLOCK_MONOTONIC)`.
#[allow(clippy::unnecessary_cast)] // time_t and c_long are 32 bits on 32-bit targets
fn monotonic_nanos() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as i64).saturating_mul(1_000_000_000) + ts.tv_nsec as i64
}

/// Nanoseconds per TSC tick in 32.32 fixed point; 0 = not usable.
#[cfg(target_arch = "x86_64")]
static NS_PER_TICK_Q32: AtomicU64 = AtomicU64::new(0);
/// Ticks after which a thread re-reads the system clock (10 ms).
#[cfg(target_arch = "x86_64")]
static REBASE_TICKS: AtomicU64 = AtomicU64::new(0);

#[cfg(target_arch = "x86_64")]
mod tsc {
    use super::*;
    use std::cell::Cell;

    #[derive(Clone, Copy)]
    struct Base {
        tsc: u64,
        ns: i64,
    }

    thread_local! {
        static BASE: Cell<Base> = const { Cell::new(Base { tsc: 0, ns: 0 }) };
    }

    #[inline]
    fn rdtsc() -> u64 {
        // SAFETY: rdtsc has no preconditions on x86_64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    /// A TSC reading and the system time at the same moment: the TSC is read on both
    /// sides of the clock, and the pair is taken again if they lie far apart (the thread
    /// was preempted in between; calibration runs on a low-priority thread).
    fn paired() -> Option<(u64, i64)> {
        for _ in 0..16 {
            let before = rdtsc();
            let ns = monotonic_nanos();
            let after = rdtsc();
            let spread = after.wrapping_sub(before);
            if spread < 20_000 {
                return Some((before + spread / 2, ns));
            }
        }
        None
    }

    /// Measures the TSC rate against the system clock, if the kernel trusts the TSC.
    pub(super) fn calibrate() {
        let trusted = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .is_ok_and(|s| s.trim() == "tsc");
        if !trusted {
            return;
        }
        let Some((t0, n0)) = paired() else {
            return;
        };
        // The rate is measured against the monotonic clock: the wall clock may be
        // clamped (a constant) or jump, and a wait on it might never end.
        let until = n0 + 2_000_000;
        while monotonic_nanos() < until {}
        let Some((t1, n1)) = paired() else {
            return;
        };
        let (dt, dn) = (t1.wrapping_sub(t0), n1 - n0);
        if dt == 0 || dn <= 0 {
            return;
        }
        let q = ((dn as u128) << 32) / dt as u128;
        if q == 0 || q > u128::from(u32::MAX) << 32 {
            return;
        }
        let rebase = (10_000_000u128 << 32) / q;
        REBASE_TICKS.store(rebase as u64, Ordering::Relaxed);
        MONO_TSC0.store(t1, Ordering::Relaxed);
        MONO_NS0.store(n1 as u64, Ordering::Relaxed);
        NS_PER_TICK_Q32.store(q as u64, Ordering::Release);
    }

    #[inline]
    pub(super) fn now(q: u64) -> i64 {
        let t = rdtsc();
        let rebase = REBASE_TICKS.load(Ordering::Relaxed);
        BASE.try_with(|cell| {
            let base = cell.get();
            let dt = t.wrapping_sub(base.tsc);
            if base.tsc != 0 && dt < rebase {
                base.ns + ((u128::from(dt) * u128::from(q)) >> 32) as i64
            } else {
                let ns = system_nanos();
                cell.set(Base { tsc: rdtsc(), ns });
                ns
            }
        })
        .unwrap_or_else(|_| system_nanos())
    }
}

/// Calibrates the fast clock once per process (about 2 ms, on the first recorder's
/// keeper thread).
pub(crate) fn calibrate_once() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(target_arch = "x86_64")]
        tsc::calibrate();
    });
}

/// Nanoseconds since the Unix epoch, for a record.
#[inline]
pub(crate) fn now_nanos() -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        let q = NS_PER_TICK_Q32.load(Ordering::Relaxed);
        if q != 0 {
            return tsc::now(q);
        }
    }
    system_nanos()
}

/// The TSC reading and the monotonic time of the calibration's last pair: the origin
/// of [`monotonic_stamp`]'s extrapolation.
#[cfg(target_arch = "x86_64")]
static MONO_TSC0: AtomicU64 = AtomicU64::new(0);
#[cfg(target_arch = "x86_64")]
static MONO_NS0: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds of the monotonic clock, as cheaply as the platform allows: the hang
/// watchdog's beat (`crate::watchdog`). With a calibrated TSC it is one `rdtsc`
/// extrapolated from the calibration's pair (no thread-local, no syscall); otherwise
/// `clock_gettime(CLOCK_MONOTONIC)`. Both read the same time base (the TSC is scaled
/// from a pair taken against `CLOCK_MONOTONIC`), so stamps taken before and after the
/// calibration compare; they never jump with the wall clock. Async-signal-safe.
#[inline]
pub(crate) fn monotonic_stamp() -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        let q = NS_PER_TICK_Q32.load(Ordering::Acquire);
        if q != 0 {
            // SAFETY: rdtsc has no preconditions on x86_64.
            let t = unsafe { core::arch::x86_64::_rdtsc() };
            let dt = t.wrapping_sub(MONO_TSC0.load(Ordering::Relaxed)) as i64;
            let ns = ((i128::from(dt) * i128::from(q)) >> 32) as i64;
            return (MONO_NS0.load(Ordering::Relaxed) as i64).wrapping_add(ns);
        }
    }
    monotonic_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_clock_agrees_with_the_system_clock() {
        calibrate_once();
        for _ in 0..200 {
            let a = system_nanos();
            let b = now_nanos();
            let c = system_nanos();
            // Within the re-base error (sub-µs) plus scheduling noise between the reads.
            assert!(b >= a - 50_000 && b <= c + 50_000, "{a} {b} {c}");
            std::thread::sleep(std::time::Duration::from_micros(300));
        }
    }

    #[test]
    fn the_monotonic_stamp_measures_intervals_as_the_monotonic_clock_does() {
        calibrate_once();
        let (s0, m0) = (monotonic_stamp(), monotonic_nanos());
        let mut last = s0;
        for _ in 0..100 {
            let b = monotonic_stamp();
            assert!(b >= last, "went back: {last} -> {b}");
            last = b;
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        let (ds, dm) = (monotonic_stamp() - s0, monotonic_nanos() - m0);
        // The TSC's rate is calibrated to well under 1%; scheduling adds microseconds.
        assert!(
            (ds - dm).abs() <= dm / 100 + 200_000,
            "stamp {ds} ns, clock {dm} ns"
        );
    }
}

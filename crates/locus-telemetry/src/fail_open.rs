//! No panic crosses into the app: every public call of [`crate::Telemetry`] runs its
//! work through [`guard`], which catches a panic, records it as a problem of telemetry
//! (`status().problems`, area `Internal`, once per call name) and answers with the
//! call's fail-open value (nothing recorded, an empty list, `false`, an error).
//!
//! The work runs as telemetry's own (see [`crate::background`]), so the panic hook
//! neither writes a tombstone nor prints for it: a bug in telemetry is no crash of the
//! app. The recording calls on the hot path (`log`, `counter`, `gauge`, `histogram`)
//! are caught too, without that marking (two thread-local writes a call): they are
//! panic-free by construction (fixed stack buffers, checked arithmetic), and should one
//! panic all the same its tombstone would tell us where.

use crate::status::{Problem, ProblemArea};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

/// Runs `work` for the public call `call`; on a panic, notes it in `problems` and
/// returns `fallback()`.
pub(crate) fn guard<T>(
    problems: &Mutex<Vec<Problem>>,
    call: &'static str,
    fallback: impl FnOnce() -> T,
    work: impl FnOnce() -> T,
) -> T {
    let caught = {
        let _own = crate::background::TelemetryThreadScope::enter();
        catch_unwind(AssertUnwindSafe(work))
    };
    caught.unwrap_or_else(|payload| {
        note(problems, call, &*payload);
        fallback()
    })
}

/// [`guard`] for the hot path: caught, not marked as telemetry's.
#[inline]
pub(crate) fn guard_hot<T>(fallback: T, work: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or(fallback)
}

fn note(problems: &Mutex<Vec<Problem>>, call: &'static str, payload: &(dyn std::any::Any + Send)) {
    let message = format!(
        "telemetry failed in {call} (internal panic: {}); the app goes on",
        crate::crash::panic_message(payload)
    );
    let mut list = problems.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = format!("telemetry failed in {call} ");
    if !list.iter().any(|p| p.message.starts_with(&prefix)) {
        list.push(Problem::new(ProblemArea::Internal, message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_fallback_and_one_problem() {
        let problems = Mutex::new(Vec::new());
        for _ in 0..3 {
            let v = guard(&problems, "recent", Vec::new, || -> Vec<u8> {
                panic!("boom")
            });
            assert!(v.is_empty());
        }
        let list = problems.lock().unwrap();
        assert_eq!(list.len(), 1, "{list:?}");
        assert!(list[0].message.contains("recent") && list[0].message.contains("boom"));
        assert_eq!(guard_hot(0u64, || panic!("hot")), 0);
    }
}

//! The upload policy, decided apart from any transport: at most one retry, a hard
//! timeout per attempt, the circuit breaker consulted before every attempt, and a panic
//! in the transport caught as a failed attempt. Testable without a network.
//!
//! Every attempt is marked in flight in the breaker's state file before its request
//! goes out, and settled with its outcome. An attempt whose future is dropped before it
//! has one — shutdown's deadline passed, the runtime was torn down — counts as a failed
//! attempt, persisted during the drop; one whose process dies is counted at the next
//! start. So a session too short for any attempt to time out still feeds the breaker.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use locus_telemetry::breaker::{CircuitBreaker, SystemClock};
//! use locus_telemetry::worker::policy::{deliver, Delivery};
//! use locus_telemetry::sink::SinkError;
//! use std::{sync::Arc, time::Duration};
//! let mut breaker = CircuitBreaker::in_memory(Duration::from_secs(60), Arc::new(SystemClock));
//! let mut calls = 0;
//! let outcome = deliver(&mut breaker, Duration::from_secs(1), || {
//!     calls += 1;
//!     async { Err::<(), _>(SinkError::Transport { destination: "t".into(), message: "503".into() }) }
//! }).await;
//! assert!(matches!(outcome, Delivery::Failed { attempts: 2, .. }));
//! assert_eq!(calls, 2); // the first attempt and exactly one retry
//! # });
//! ```

use crate::breaker::{CircuitBreaker, Permit};
use crate::sink::SinkError;
use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// Attempts per upload while the breaker is closed: the first and one retry.
pub const MAX_ATTEMPTS: u32 = 2;

/// What became of one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// It arrived.
    Delivered {
        /// Attempts made (1 or 2).
        attempts: u32,
    },
    /// Every allowed attempt failed; the payload is to be discarded.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        error: String,
    },
    /// The breaker is open: no attempt was made.
    Skipped {
        /// When the backoff ends.
        until: chrono::DateTime<chrono::Utc>,
    },
}

/// Delivers one payload with `attempt` under the breaker's rules.
pub async fn deliver<F, Fut>(
    breaker: &mut CircuitBreaker,
    timeout: Duration,
    mut attempt: F,
) -> Delivery
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), SinkError>>,
{
    let mut made = 0;
    let mut last_error = String::new();
    let first = breaker.permit();
    let allowed = match first {
        Permit::Denied { until } => return Delivery::Skipped { until },
        Permit::Probe => 1,
        Permit::Closed => MAX_ATTEMPTS,
    };
    while made < allowed {
        let permit = breaker.permit();
        if let Permit::Denied { .. } = permit {
            break; // the last failure opened the breaker: no retry
        }
        made += 1;
        match attempt_once(breaker, permit, timeout, "upload", &mut attempt).await {
            Ok(()) => return Delivery::Delivered { attempts: made },
            Err(error) => last_error = error,
        }
    }
    Delivery::Failed {
        attempts: made,
        error: last_error,
    }
}

/// What became of a single call that is not an upload (the retention rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call<T> {
    /// It succeeded with this output.
    Done(T),
    /// It failed (counted by the breaker) with this error.
    Failed(String),
    /// The breaker is not closed: no attempt was made.
    Skipped,
}

/// One attempt of a call with `make`, no retry, made only while the breaker is closed:
/// it counts for the breaker like an upload attempt, but is never the probe after a
/// backoff (whether the destination is back is for an upload to find out: a call that
/// fails for its own reasons must not keep the breaker open).
pub async fn call<T, F, Fut>(
    breaker: &mut CircuitBreaker,
    timeout: Duration,
    what: &str,
    make: F,
) -> Call<T>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, SinkError>>,
{
    let permit = breaker.permit();
    if permit != Permit::Closed {
        return Call::Skipped;
    }
    match attempt_once(breaker, permit, timeout, what, make).await {
        Ok(output) => Call::Done(output),
        Err(error) => Call::Failed(error),
    }
}

/// One attempt under `permit`: marked in flight, made inside the failure boundary
/// ([`guarded`]: a transport that panics, building its future or polling it, has made a
/// failed attempt; the panic stops here), and settled in the breaker. The error text on
/// failure.
async fn attempt_once<T, F, Fut>(
    breaker: &mut CircuitBreaker,
    permit: Permit,
    timeout: Duration,
    what: &str,
    make: F,
) -> Result<T, String>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, SinkError>>,
{
    let in_flight = InFlight::begin(breaker, permit);
    let error = match guarded(timeout, make).await {
        Guarded::Done(Ok(output)) => {
            in_flight.succeeded();
            return Ok(output);
        }
        Guarded::Done(Err(e)) => e.to_string(),
        Guarded::Panicked(message) => format!("{what} panicked: {message}"),
        Guarded::TimedOut => format!("attempt timed out after {} ms", timeout.as_millis()),
    };
    in_flight.failed(&error);
    Err(error)
}

/// An attempt the breaker knows is under way. Settled by [`InFlight::succeeded`] or
/// [`InFlight::failed`]; dropped unsettled (the future that owns it was dropped), it is
/// a failed attempt, and the breaker persists that before the drop returns.
struct InFlight<'a> {
    breaker: &'a mut CircuitBreaker,
    permit: Permit,
    settled: bool,
}

impl<'a> InFlight<'a> {
    fn begin(breaker: &'a mut CircuitBreaker, permit: Permit) -> InFlight<'a> {
        breaker.begin_attempt(permit);
        InFlight {
            breaker,
            permit,
            settled: false,
        }
    }

    fn succeeded(mut self) {
        self.settled = true;
        self.breaker.on_success();
    }

    fn failed(mut self, error: &str) {
        self.settled = true;
        self.breaker.on_failure_with(self.permit, error);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.on_cut_off(self.permit);
        }
    }
}

/// How a [`guarded`] call ended.
pub(crate) enum Guarded<T> {
    /// It finished in time with this output.
    Done(T),
    /// It panicked, building its future or polling it, with this message.
    Panicked(String),
    /// It did not finish within the timeout.
    TimedOut,
}

/// Builds a future with `make` and awaits it for at most `timeout`, catching a panic
/// in either: the failure boundary every network call of a worker runs in.
pub(crate) async fn guarded<F, Fut>(timeout: Duration, make: F) -> Guarded<Fut::Output>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    match std::panic::catch_unwind(AssertUnwindSafe(make)) {
        Ok(fut) => {
            match tokio::time::timeout(timeout, AssertUnwindSafe(fut).catch_unwind()).await {
                Ok(Ok(output)) => Guarded::Done(output),
                Ok(Err(panic)) => Guarded::Panicked(crate::crash::panic_message(&*panic)),
                Err(_) => Guarded::TimedOut,
            }
        }
        Err(panic) => Guarded::Panicked(crate::crash::panic_message(&*panic)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::ManualClock;
    use std::sync::Arc;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    async fn failing() -> Result<(), SinkError> {
        Err(SinkError::Transport {
            destination: "t".into(),
            message: "HTTP 500".into(),
        })
    }

    #[test]
    fn three_failed_uploads_open_the_breaker_then_nothing_is_attempted() {
        let clock = Arc::new(ManualClock::new());
        let mut b = CircuitBreaker::in_memory(Duration::from_secs(6 * 3600), clock.clone());
        let mut calls = 0;
        rt().block_on(async {
            for _ in 0..3 {
                let d = deliver(&mut b, Duration::from_secs(1), || {
                    calls += 1;
                    failing()
                })
                .await;
                assert!(matches!(d, Delivery::Failed { attempts: 2, .. }));
            }
            assert_eq!(calls, 6);
            let d = deliver(&mut b, Duration::from_secs(1), || {
                calls += 1;
                failing()
            })
            .await;
            assert!(matches!(d, Delivery::Skipped { .. }));
            assert_eq!(calls, 6, "no attempt while open");
            clock.advance(Duration::from_secs(6 * 3600));
            let d = deliver(&mut b, Duration::from_secs(1), || {
                calls += 1;
                failing()
            })
            .await;
            assert!(
                matches!(d, Delivery::Failed { attempts: 1, .. }),
                "one probe, no retry: {d:?}"
            );
            assert_eq!(calls, 7);
        });
    }

    #[test]
    fn a_panicking_or_hanging_transport_is_a_failed_attempt() {
        let mut b =
            CircuitBreaker::in_memory(Duration::from_secs(60), Arc::new(ManualClock::new()));
        rt().block_on(async {
            let d = deliver(&mut b, Duration::from_millis(50), || async {
                panic!("transport bug");
            })
            .await;
            assert!(matches!(&d, Delivery::Failed { attempts: 2, error } if error.contains("transport bug")), "{d:?}");
            let d = deliver(&mut b, Duration::from_millis(50), std::future::pending).await;
            assert!(matches!(&d, Delivery::Failed { attempts: 2, error } if error.contains("timed out")), "{d:?}");
        });
    }

    #[test]
    fn a_retry_that_succeeds_delivers() {
        let mut b =
            CircuitBreaker::in_memory(Duration::from_secs(60), Arc::new(ManualClock::new()));
        let mut n = 0;
        let d = rt().block_on(deliver(&mut b, Duration::from_secs(1), || {
            n += 1;
            let ok = n == 2;
            async move {
                if ok {
                    Ok(())
                } else {
                    failing().await
                }
            }
        }));
        assert_eq!(d, Delivery::Delivered { attempts: 2 });
        assert_eq!(b.snapshot().consecutive_failures, 0);
    }

    #[test]
    fn an_attempt_cut_off_by_dropping_its_future_is_a_failed_attempt_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Arc<dyn crate::breaker::Clock> = Arc::new(ManualClock::new());
        let (mut b, _) =
            CircuitBreaker::load(dir.path(), "t", Duration::from_secs(60), clock.clone());
        let on_disk = |dir: &std::path::Path| -> crate::breaker::PersistedBreaker {
            let path = CircuitBreaker::state_path(dir, "t");
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
        };
        rt().block_on(async {
            // The request "goes out" and never comes back; shutdown's deadline passes.
            let cut = tokio::time::timeout(
                Duration::from_millis(20),
                deliver(&mut b, Duration::from_secs(3600), || async {
                    std::future::pending::<Result<(), SinkError>>().await
                }),
            )
            .await;
            assert!(cut.is_err(), "the delivery was cut off");
        });
        let state = on_disk(dir.path());
        assert_eq!(state.consecutive_failures, 1, "{state:?}");
        assert!(state.in_flight.is_none(), "settled: {state:?}");
        assert_eq!(
            state.last_error.as_deref(),
            Some(crate::breaker::CUT_OFF_BY_SHUTDOWN)
        );
        assert_eq!(b.take_cut_offs(), 1);
        // While an attempt is under way, the mark is on disk.
        rt().block_on(async {
            let mut seen = None;
            let _ = deliver(&mut b, Duration::from_secs(1), || {
                seen = Some(on_disk(dir.path()).in_flight);
                failing()
            })
            .await;
            assert!(matches!(seen, Some(Some(_))), "{seen:?}");
        });
        assert!(on_disk(dir.path()).in_flight.is_none());
        assert_eq!(b.take_cut_offs(), 0, "failures are not cut-offs");
    }

    #[test]
    fn a_call_counts_like_an_upload_attempt_but_is_never_the_probe() {
        let clock = Arc::new(ManualClock::new());
        let mut b = CircuitBreaker::in_memory(Duration::from_secs(60), clock.clone());
        let mut calls = 0;
        rt().block_on(async {
            for n in 1..=6 {
                let c = call(&mut b, Duration::from_secs(1), "retention call", || {
                    calls += 1;
                    failing()
                })
                .await;
                assert!(matches!(c, Call::Failed(_)), "{c:?}");
                assert_eq!(b.snapshot().consecutive_failures, n);
            }
            assert!(
                matches!(b.permit(), Permit::Denied { .. }),
                "6 failed calls open it"
            );
            let c = call(&mut b, Duration::from_secs(1), "retention call", || {
                calls += 1;
                async { Ok::<_, SinkError>(()) }
            })
            .await;
            assert_eq!(c, Call::Skipped, "open");
            clock.advance(Duration::from_secs(60));
            assert_eq!(b.permit(), Permit::Probe);
            let c = call(&mut b, Duration::from_secs(1), "retention call", || {
                calls += 1;
                async { Ok::<_, SinkError>(()) }
            })
            .await;
            assert_eq!(c, Call::Skipped, "the probe is left to an upload");
            assert_eq!(b.permit(), Permit::Probe);
            let d = deliver(&mut b, Duration::from_secs(1), || async { Ok(()) }).await;
            assert_eq!(d, Delivery::Delivered { attempts: 1 });
            let c = call(&mut b, Duration::from_secs(1), "retention call", || {
                calls += 1;
                async { Ok::<_, SinkError>(7) }
            })
            .await;
            assert_eq!(c, Call::Done(7), "closed again");
        });
        assert_eq!(calls, 7);
    }
}

//! The hot path without UniFFI's per-call machinery, for `log`, `counter`, `gauge` and
//! `histogram`.
//!
//! UniFFI's Kotlin bindings pay, per call, a JNA `Structure` for the call status, one
//! `RustBuffer` allocation round trip per string and a handle clone: tens of
//! microseconds on the JVM (JNA builds each `Structure` by reflection and registers its
//! memory with a cleaner). These C functions take primitives and one pointer into the
//! caller's direct (off-heap) buffer, so a JNA direct-mapped call costs what crossing
//! into native code costs, and only `len` bytes are ever read (JNA would copy a whole
//! `byte[]` on every call).
//!
//! They reach the telemetry through a slot id ([`crate::LocusTelemetry::fast_slot`]):
//! an index into a static table plus the generation of the handle that holds it. Every
//! id is validated — out of range, stale (its handle closed) or forged, the call does
//! nothing — and `len` is bounded by [`MAX_FAST_BYTES`], so a bad argument cannot
//! crash the process (the pointer itself must still be valid for `len` bytes: the
//! Kotlin encoder that passes it is internal to the binding).
//!
//! `log`'s buffer, little-endian: `u32 len, target, u32 len, message`, then per field
//! `u8 tag, u32 len, key` and the value: tag 0 bool (`u8`), 1 `i64`, 2 `u64`, 3 `f64`
//! (8 bytes each), 4 text (`u32 len` + UTF-8). Invalid UTF-8 is read lossily; a
//! malformed buffer records what was read before the fault.

use crate::CoreFieldValue;
use locus_telemetry::Telemetry;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::RwLock;

/// How many handles may use the fast path at once; more fall back to UniFFI's calls.
const SLOTS: usize = 256;
/// The most bytes one call may pass: the Kotlin encoder's bound (8 KiB) with room to
/// spare. A longer `len` is refused, never read.
pub const MAX_FAST_BYTES: i32 = 64 * 1024;

/// One entry of the slot table: the telemetry of one live handle, and the generation
/// that names it (a slot id is `generation << 32 | index + 1`).
pub struct FastSlot {
    telemetry: RwLock<Option<(u32, Telemetry)>>,
    generation: AtomicU32,
    in_use: AtomicBool,
}

impl FastSlot {
    // Only the array initialiser below uses it: each entry is its own value.
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: FastSlot = FastSlot {
        telemetry: RwLock::new(None),
        generation: AtomicU32::new(0),
        in_use: AtomicBool::new(false),
    };
}

/// The table every slot id indexes: static, so an id — stale, forged or 0 — can never
/// reach freed memory; it is checked against the bound and the generation instead.
static TABLE: [FastSlot; SLOTS] = [const { FastSlot::EMPTY }; SLOTS];

/// Gives `telemetry` a slot; returns its id (0 when the table is full: the caller then
/// goes through the UniFFI calls).
pub(crate) fn register(telemetry: Telemetry) -> u64 {
    for (index, slot) in TABLE.iter().enumerate() {
        if slot
            .in_use
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue;
        }
        let generation = slot
            .generation
            .fetch_add(1, Ordering::AcqRel)
            .wrapping_add(1);
        let mut guard = slot.telemetry.write().unwrap_or_else(|e| e.into_inner());
        *guard = Some((generation, telemetry));
        return (u64::from(generation) << 32) | (index as u64 + 1);
    }
    0
}

/// Lets the telemetry of slot `id` go (its handle was closed or dropped): later calls
/// through `id` do nothing. Waits for the calls in flight through it.
pub(crate) fn clear(id: u64) {
    let Some(slot) = lookup(id) else { return };
    let mut guard = slot.telemetry.write().unwrap_or_else(|e| e.into_inner());
    if guard
        .as_ref()
        .is_some_and(|(g, _)| u64::from(*g) == id >> 32)
    {
        *guard = None;
        drop(guard);
        slot.in_use.store(false, Ordering::Release);
    }
}

fn lookup(id: u64) -> Option<&'static FastSlot> {
    let index = usize::try_from(id & 0xFFFF_FFFF).ok()?.checked_sub(1)?;
    TABLE.get(index)
}

/// Runs `f` with the telemetry of slot `id`, or returns `neutral` for an unknown,
/// cleared or stale id.
fn with<T>(id: u64, neutral: T, f: impl FnOnce(&Telemetry) -> T) -> T {
    let Some(slot) = lookup(id) else {
        return neutral;
    };
    match slot.telemetry.read() {
        Ok(guard) => match guard.as_ref() {
            Some((g, t)) if u64::from(*g) == id >> 32 => f(t),
            _ => neutral,
        },
        Err(_) => neutral,
    }
}

/// Reads the `log` buffer.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }

    fn str(&mut self) -> Option<Cow<'a, str>> {
        let b = self.take(4)?;
        let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        Some(String::from_utf8_lossy(self.take(len)?))
    }
}

/// The fields of a `log` buffer (after target and message), as far as they are well formed.
fn fields<'a>(r: &mut Reader<'a>) -> Vec<(Cow<'a, str>, FieldOwned<'a>)> {
    let mut out = Vec::new();
    while !r.buf.is_empty() {
        let Some(tag) = r.u8() else { break };
        let Some(key) = r.str() else { break };
        let value = match tag {
            0 => r.u8().map(|b| FieldOwned::Bool(b != 0)),
            1 => r.u64().map(|v| FieldOwned::I64(v as i64)),
            2 => r.u64().map(FieldOwned::U64),
            3 => r.u64().map(|v| FieldOwned::F64(f64::from_bits(v))),
            4 => r.str().map(FieldOwned::Str),
            _ => None,
        };
        let Some(value) = value else { break };
        out.push((key, value));
    }
    out
}

/// A field value that may own its text (when it was not valid UTF-8).
enum FieldOwned<'a> {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(Cow<'a, str>),
}

impl FieldOwned<'_> {
    fn as_core(&self) -> CoreFieldValue<'_> {
        match self {
            FieldOwned::Bool(v) => CoreFieldValue::Bool(*v),
            FieldOwned::I64(v) => CoreFieldValue::I64(*v),
            FieldOwned::U64(v) => CoreFieldValue::U64(*v),
            FieldOwned::F64(v) => CoreFieldValue::F64(*v),
            FieldOwned::Str(v) => CoreFieldValue::Str(v),
        }
    }
}

/// Decodes a `log` buffer and records it; 0 if the buffer is malformed before the
/// message ends.
pub(crate) fn log(telemetry: &Telemetry, level: crate::Level, buf: &[u8]) -> u64 {
    let mut r = Reader { buf };
    let (Some(target), Some(message)) = (r.str(), r.str()) else {
        return 0;
    };
    let owned = fields(&mut r);
    let core: Vec<(&str, CoreFieldValue<'_>)> = owned
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_core()))
        .collect();
    telemetry.log(level.into(), &target, &message, &core)
}

fn level_of(level: i32) -> crate::Level {
    match level {
        0 => crate::Level::Trace,
        1 => crate::Level::Debug,
        3 => crate::Level::Warn,
        4 => crate::Level::Error,
        5 => crate::Level::Fatal,
        _ => crate::Level::Info,
    }
}

/// # Safety
/// `ptr` must be valid for `len` bytes when `len` is within `1..=MAX_FAST_BYTES`.
unsafe fn bytes<'a>(ptr: *const u8, len: i32) -> Option<&'a [u8]> {
    if !(0..=MAX_FAST_BYTES).contains(&len) {
        return None;
    }
    match usize::try_from(len) {
        // SAFETY: the caller passes a buffer of at least `len` readable bytes.
        Ok(n) if n > 0 && !ptr.is_null() => Some(unsafe { std::slice::from_raw_parts(ptr, n) }),
        _ => Some(&[]),
    }
}

/// Records a log line from an encoded buffer (see the module docs); returns its sequence
/// number, 0 if nothing was recorded (an unknown or closed slot, a `len` outside
/// `0..=MAX_FAST_BYTES`, a malformed buffer). Level: 0 trace, 1 debug, 2 info, 3 warn,
/// 4 error, 5 fatal.
///
/// # Safety
/// `buf` is valid for `len` bytes. `slot` may be anything: it is validated.
#[no_mangle]
pub unsafe extern "C" fn locus_fast_log(slot: u64, level: i32, buf: *const u8, len: i32) -> u64 {
    // SAFETY: as the caller promises.
    let Some(buf) = (unsafe { bytes(buf, len) }) else {
        return 0;
    };
    crate::guarded(0, || with(slot, 0, |t| log(t, level_of(level), buf)))
}

/// Which metric `locus_fast_metric` feeds.
const GAUGE: i32 = 1;
const HISTOGRAM: i32 = 2;

/// Feeds the metric named by the UTF-8 `name`: `kind` 1 sets a gauge, 2 observes a
/// histogram value (non-finite values are refused). An unknown slot, kind or bad `len`
/// does nothing.
///
/// # Safety
/// `name` is valid for `len` bytes. `slot` may be anything: it is validated.
#[no_mangle]
pub unsafe extern "C" fn locus_fast_metric(
    slot: u64,
    kind: i32,
    name: *const u8,
    len: i32,
    value: f64,
) {
    // SAFETY: as the caller promises.
    let Some(name) = (unsafe { bytes(name, len) }) else {
        return;
    };
    let name = String::from_utf8_lossy(name);
    crate::guarded((), || {
        with(slot, (), |t| match kind {
            GAUGE => t.gauge(&name, value),
            HISTOGRAM => t.histogram(&name, value),
            _ => {}
        })
    })
}

/// Adds `increment` (negative counts as 0) to the counter named by the UTF-8 `name`.
///
/// # Safety
/// `name` is valid for `len` bytes. `slot` may be anything: it is validated.
#[no_mangle]
pub unsafe extern "C" fn locus_fast_counter(slot: u64, name: *const u8, len: i32, increment: i64) {
    // SAFETY: as the caller promises.
    let Some(name) = (unsafe { bytes(name, len) }) else {
        return;
    };
    let name = String::from_utf8_lossy(name);
    let increment = u64::try_from(increment).unwrap_or(0);
    crate::guarded((), || with(slot, (), |t| t.counter(&name, increment)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_str(out: &mut Vec<u8>, s: &[u8]) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s);
    }

    #[test]
    fn a_buffer_round_trips_into_the_recorder_and_a_cleared_slot_does_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t = crate::LocusTelemetry::new(crate::TelemetrySettings {
            enable_s3_diagnostics: false,
            ..crate::default_settings(dir.path().display().to_string(), "1".into())
        })
        .unwrap();
        let mut buf = Vec::new();
        put_str(&mut buf, b"gps");
        put_str(&mut buf, b"fix \xff");
        buf.push(3);
        put_str(&mut buf, b"lat");
        buf.extend_from_slice(&52.5f64.to_bits().to_le_bytes());
        buf.push(1);
        put_str(&mut buf, b"n");
        buf.extend_from_slice(&(-7i64).to_le_bytes());
        buf.push(4);
        put_str(&mut buf, b"s");
        put_str(&mut buf, b"x");
        buf.push(0);
        put_str(&mut buf, b"ok");
        buf.push(1);
        buf.extend_from_slice(&[9, 9]); // a torn field at the end is left out
        let slot = t.fast_slot();
        let seq = unsafe { locus_fast_log(slot, 3, buf.as_ptr(), buf.len() as i32) };
        assert!(seq > 0);
        unsafe { locus_fast_counter(slot, b"fixes".as_ptr(), 5, 2) };
        let recent = t.recent(5);
        let log = recent.iter().find(|r| r.seq == seq).unwrap();
        assert_eq!(log.level, crate::Level::Warn);
        assert_eq!(log.message, "fix \u{fffd}");
        assert!(
            log.json.contains(r#""lat":52.5,"n":-7,"s":"x","ok":true}"#),
            "{}",
            log.json
        );
        assert!(recent.iter().any(|r| r.text.contains("counter fixes = 2")));
        assert_eq!(
            unsafe { locus_fast_log(slot, 2, buf.as_ptr(), 3) },
            0,
            "torn target"
        );
        t.shutdown(500);
        drop(t);
        assert_eq!(
            unsafe { locus_fast_log(slot, 2, buf.as_ptr(), buf.len() as i32) },
            0
        );
        assert_eq!(
            unsafe { locus_fast_log(0, 2, buf.as_ptr(), buf.len() as i32) },
            0
        );
    }

    #[test]
    fn forged_stale_and_out_of_range_ids_and_lengths_do_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t = crate::LocusTelemetry::new(crate::TelemetrySettings {
            enable_s3_diagnostics: false,
            ..crate::default_settings(dir.path().display().to_string(), "1".into())
        })
        .unwrap();
        let mut buf = Vec::new();
        put_str(&mut buf, b"gps");
        put_str(&mut buf, b"fix");
        let slot = t.fast_slot();
        assert_ne!(slot, 0);
        let ok = unsafe { locus_fast_log(slot, 2, buf.as_ptr(), buf.len() as i32) };
        assert!(ok > 0);
        for forged in [
            1u64 << 40 | 1,
            u64::MAX,
            0xFFFF_FFFF,
            (slot & !0xFFFF_FFFF) | 300,
        ] {
            assert_eq!(
                unsafe { locus_fast_log(forged, 2, buf.as_ptr(), buf.len() as i32) },
                0,
                "{forged:#x}"
            );
            unsafe { locus_fast_metric(forged, GAUGE, b"g".as_ptr(), 1, 1.0) };
        }
        for len in [-1, MAX_FAST_BYTES + 1, i32::MAX] {
            assert_eq!(unsafe { locus_fast_log(slot, 2, buf.as_ptr(), len) }, 0);
        }
        unsafe { locus_fast_metric(slot, GAUGE, b"battery".as_ptr(), 7, 87.5) };
        unsafe { locus_fast_metric(slot, HISTOGRAM, b"lat_ms".as_ptr(), 6, 12.0) };
        let recent = t.recent(10);
        assert!(recent
            .iter()
            .any(|r| r.text.contains("gauge battery = 87.5")));
        assert!(recent
            .iter()
            .any(|r| r.kind == "histogram" && r.message == "lat_ms"));
        assert!(t.close(500));
        // Closed: the id is stale even if a new handle takes the same table entry.
        let again = crate::LocusTelemetry::new(crate::TelemetrySettings {
            enable_s3_diagnostics: false,
            ..crate::default_settings(dir.path().display().to_string(), "1".into())
        })
        .unwrap();
        assert_eq!(
            unsafe { locus_fast_log(slot, 2, buf.as_ptr(), buf.len() as i32) },
            0
        );
        assert!(
            unsafe { locus_fast_log(again.fast_slot(), 2, buf.as_ptr(), buf.len() as i32) } > 0
        );
        assert!(again.close(500));
    }
}

//! The hot path without UniFFI's per-call machinery, for `log` and `counter`.
//!
//! UniFFI's Kotlin bindings pay, per call, a JNA `Structure` for the call status, one
//! `RustBuffer` allocation round trip per string and a handle clone: tens of
//! microseconds on the JVM (JNA builds each `Structure` by reflection and registers its
//! memory with a cleaner). These two C functions take primitives and one byte array, so
//! a JNA direct-mapped call costs what crossing into native code costs.
//!
//! They reach the telemetry through a [`FastSlot`]: a small leaked cell the handle
//! publishes ([`crate::LocusTelemetry::fast_slot`]) and empties when it is dropped. A
//! slot is never freed (a few dozen bytes per started telemetry), so a caller holding
//! its address can never touch freed memory; after the handle is gone the calls do
//! nothing.
//!
//! `log`'s buffer, little-endian: `u32 len, target, u32 len, message`, then per field
//! `u8 tag, u32 len, key` and the value: tag 0 bool (`u8`), 1 `i64`, 2 `u64`, 3 `f64`
//! (8 bytes each), 4 text (`u32 len` + UTF-8). Invalid UTF-8 is read lossily; a
//! malformed buffer records what was read before the fault.

use crate::CoreFieldValue;
use locus_telemetry::Telemetry;
use std::borrow::Cow;
use std::sync::RwLock;

/// Where the fast path finds the telemetry: `None` once its handle was dropped.
pub struct FastSlot {
    telemetry: RwLock<Option<Telemetry>>,
}

impl FastSlot {
    /// A slot that lives for the rest of the process, holding `telemetry`.
    pub(crate) fn leak(telemetry: Telemetry) -> &'static FastSlot {
        Box::leak(Box::new(FastSlot {
            telemetry: RwLock::new(Some(telemetry)),
        }))
    }

    /// Lets the telemetry go (its handle was dropped): later calls do nothing.
    pub(crate) fn clear(&self) {
        let mut guard = match self.telemetry.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = None;
    }

    fn with<T>(&self, neutral: T, f: impl FnOnce(&Telemetry) -> T) -> T {
        match self.telemetry.read() {
            Ok(guard) => guard.as_ref().map_or(neutral, f),
            Err(_) => neutral,
        }
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
/// `ptr` must be valid for `len` bytes (or `len` 0).
unsafe fn bytes<'a>(ptr: *const u8, len: i32) -> &'a [u8] {
    match usize::try_from(len) {
        // SAFETY: the caller passes a buffer of at least `len` readable bytes.
        Ok(n) if n > 0 && !ptr.is_null() => unsafe { std::slice::from_raw_parts(ptr, n) },
        _ => &[],
    }
}

/// Records a log line from an encoded buffer (see the module docs); returns its sequence
/// number, 0 if nothing was recorded. Level: 0 trace, 1 debug, 2 info, 3 warn, 4 error,
/// 5 fatal.
///
/// # Safety
/// `slot` is 0 or an address from [`crate::LocusTelemetry::fast_slot`]; `buf` is valid
/// for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn locus_fast_log(slot: u64, level: i32, buf: *const u8, len: i32) -> u64 {
    // SAFETY: as the caller promises; slots are never freed.
    let (Some(slot), buf) = (unsafe { (slot as *const FastSlot).as_ref() }, unsafe {
        bytes(buf, len)
    }) else {
        return 0;
    };
    crate::guarded(0, || slot.with(0, |t| log(t, level_of(level), buf)))
}

/// Adds `increment` (negative counts as 0) to the counter named by the UTF-8 `name`.
///
/// # Safety
/// `slot` is 0 or an address from [`crate::LocusTelemetry::fast_slot`]; `name` is valid
/// for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn locus_fast_counter(slot: u64, name: *const u8, len: i32, increment: i64) {
    // SAFETY: as the caller promises; slots are never freed.
    let (Some(slot), name) = (unsafe { (slot as *const FastSlot).as_ref() }, unsafe {
        bytes(name, len)
    }) else {
        return;
    };
    let name = String::from_utf8_lossy(name);
    let increment = u64::try_from(increment).unwrap_or(0);
    crate::guarded((), || slot.with((), |t| t.counter(&name, increment)))
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
}

//! Encoding a record into a caller-provided buffer (normally on the stack), so the hot
//! path never allocates. Over-long text is cut at a character boundary and marked, the
//! record is flagged truncated, and encoding never fails.
//!
//! Payloads are sequences of length-prefixed items; `decode.rs` reads them back.

use super::layout::{self, FLAG_TRUNCATED, RECORD_HEAD};
use std::mem::MaybeUninit;

/// Appended to text that was cut to fit.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// Room kept free while writing one string so that later small items still fit.
const RESERVE: usize = 96;

/// A field value borrowed from the caller: recording it copies bytes, never allocates.
///
/// ```
/// use locus_telemetry::recorder::FieldValue;
/// let fields = [("hdop", FieldValue::F64(0.9)), ("provider", FieldValue::Str("gps"))];
/// assert_eq!(fields.len(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A float.
    F64(f64),
    /// Text.
    Str(&'a str),
    /// Bytes that may not be UTF-8; read back lossily.
    Bytes(&'a [u8]),
}

/// Value tags in the payload.
pub(crate) mod tag {
    pub const BOOL: u8 = 0;
    pub const I64: u8 = 1;
    pub const U64: u8 = 2;
    pub const F64: u8 = 3;
    pub const STR: u8 = 4;
}

/// Writes one record into a fixed buffer.
pub(crate) struct Encoder<'b> {
    buf: &'b mut [MaybeUninit<u8>],
    pos: usize,
    flags: u16,
    /// Start of the string currently being streamed (its length prefix), if any.
    open_str: Option<usize>,
}

impl<'b> Encoder<'b> {
    /// Starts a record; the head is filled in by [`Encoder::finish`].
    pub fn new(buf: &'b mut [MaybeUninit<u8>]) -> Self {
        let cap = buf.len().min(layout::MAX_RECORD);
        let buf = &mut buf[..cap];
        for b in &mut buf[..RECORD_HEAD] {
            b.write(0);
        }
        Encoder {
            buf,
            pos: RECORD_HEAD,
            flags: 0,
            open_str: None,
        }
    }

    fn room(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn put(&mut self, bytes: &[u8]) -> bool {
        if bytes.len() > self.room() {
            self.flags |= FLAG_TRUNCATED;
            return false;
        }
        // SAFETY: `bytes` fits in the remaining buffer (checked above); u8 and
        // MaybeUninit<u8> have the same layout, and the regions cannot overlap because
        // `bytes` is a shared borrow and `buf` a unique one.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.buf.as_mut_ptr().add(self.pos).cast::<u8>(),
                bytes.len(),
            );
        }
        self.pos += bytes.len();
        true
    }

    pub fn u8(&mut self, v: u8) -> bool {
        self.put(&[v])
    }
    pub fn u64(&mut self, v: u64) -> bool {
        self.put(&v.to_le_bytes())
    }
    pub fn i32(&mut self, v: i32) -> bool {
        self.put(&v.to_le_bytes())
    }

    /// A string with a u32 length prefix, cut to fit the room left (minus a reserve for
    /// the items that follow, unless `last`).
    pub fn str(&mut self, s: &[u8], last: bool) -> bool {
        if !self.begin_str() {
            return false;
        }
        let reserve = if last { 0 } else { RESERVE };
        self.push_str_bytes(s, reserve);
        self.end_str();
        true
    }

    /// Opens a string whose content is streamed with [`Encoder::push_str_bytes`].
    pub fn begin_str(&mut self) -> bool {
        if self.room() < 4 + RESERVE.min(16) {
            self.flags |= FLAG_TRUNCATED;
            return false;
        }
        self.open_str = Some(self.pos);
        self.put(&0u32.to_le_bytes())
    }

    /// Appends to the open string; cuts at a UTF-8 boundary when it does not fit.
    pub fn push_str_bytes(&mut self, s: &[u8], reserve: usize) {
        if self.open_str.is_none() || self.flags & FLAG_TRUNCATED != 0 && self.ends_with_marker() {
            return;
        }
        let room = self.room().saturating_sub(reserve);
        if s.len() <= room {
            self.put(s);
            return;
        }
        let keep = room.saturating_sub(TRUNCATION_MARKER.len());
        let mut cut = keep.min(s.len());
        // Back up to a character boundary: never split a UTF-8 sequence.
        while cut > 0 && cut < s.len() && (s[cut] & 0xC0) == 0x80 {
            cut -= 1;
        }
        self.put(&s[..cut]);
        if self.room() >= TRUNCATION_MARKER.len() {
            self.put(TRUNCATION_MARKER.as_bytes());
        }
        self.flags |= FLAG_TRUNCATED;
    }

    fn ends_with_marker(&self) -> bool {
        let m = TRUNCATION_MARKER.as_bytes();
        self.pos >= m.len() && self.written()[self.pos - m.len()..] == *m
    }

    /// Closes the open string, patching its length prefix.
    pub fn end_str(&mut self) {
        if let Some(at) = self.open_str.take() {
            let len = (self.pos - at - 4) as u32;
            for (i, b) in len.to_le_bytes().into_iter().enumerate() {
                self.buf[at + i].write(b);
            }
        }
    }

    /// A field: key (truncated to 255 bytes) then a tagged value.
    pub fn field(&mut self, key: &str, value: FieldValue<'_>) -> bool {
        let key = &key.as_bytes()[..key.len().min(255)];
        let need_scalar = 1 + key.len() + 1 + 8;
        if self.room() < need_scalar {
            self.flags |= FLAG_TRUNCATED;
            return false;
        }
        self.u8(key.len() as u8);
        self.put(key);
        match value {
            FieldValue::Bool(v) => self.u8(tag::BOOL) && self.u8(u8::from(v)),
            FieldValue::I64(v) => self.u8(tag::I64) && self.put(&v.to_le_bytes()),
            FieldValue::U64(v) => self.u8(tag::U64) && self.put(&v.to_le_bytes()),
            FieldValue::F64(v) => self.u8(tag::F64) && self.put(&v.to_le_bytes()),
            FieldValue::Str(s) => self.u8(tag::STR) && self.str(s.as_bytes(), false),
            FieldValue::Bytes(s) => self.u8(tag::STR) && self.str(s, false),
        }
    }

    /// Starts a streamed string field (for `Debug`-formatted values).
    pub fn begin_str_field(&mut self, key: &str) -> bool {
        let key = &key.as_bytes()[..key.len().min(255)];
        if self.room() < 1 + key.len() + 1 + 4 + 16 {
            self.flags |= FLAG_TRUNCATED;
            return false;
        }
        self.u8(key.len() as u8);
        self.put(key);
        self.u8(tag::STR);
        self.begin_str()
    }

    fn written(&self) -> &[u8] {
        // SAFETY: bytes 0..pos were all written (head zeroed in `new`, the rest by `put`).
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), self.pos) }
    }

    /// Fills the head and returns the whole record (commit word still zero).
    pub fn finish(mut self, seq: u64, ts_nanos: i64, kind: u8, level: u8) -> &'b [u8] {
        self.end_str();
        let len = (self.pos - RECORD_HEAD) as u32;
        let mut head = [0u8; RECORD_HEAD];
        head[8..12].copy_from_slice(&len.to_le_bytes());
        head[12] = kind;
        head[13] = level;
        head[14..16].copy_from_slice(&self.flags.to_le_bytes());
        head[16..24].copy_from_slice(&seq.to_le_bytes());
        head[24..32].copy_from_slice(&ts_nanos.to_le_bytes());
        for (slot, b) in self.buf.iter_mut().zip(head) {
            slot.write(b);
        }
        let pos = self.pos;
        // SAFETY: as in `written`; the borrow of `buf` moves out with the returned slice.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), pos) }
    }
}

/// `fmt::Write` into the open string of an encoder, for `Debug` values and
/// `format_args!` messages; output past the room left is cut and marked.
pub(crate) struct StrSink<'e, 'b> {
    pub enc: &'e mut Encoder<'b>,
    pub reserve: usize,
}

impl std::fmt::Write for StrSink<'_, '_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.enc.push_str_bytes(s.as_bytes(), self.reserve);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_marker() {
        let mut buf = [MaybeUninit::uninit(); 256];
        let mut e = Encoder::new(&mut buf);
        let text = "ü".repeat(500);
        e.str(text.as_bytes(), true);
        let rec = e.finish(1, 0, layout::kind::LOG, 2);
        let flags = u16::from_le_bytes([rec[14], rec[15]]);
        assert_eq!(flags & FLAG_TRUNCATED, FLAG_TRUNCATED);
        let s = std::str::from_utf8(&rec[RECORD_HEAD + 4..]).expect("valid utf-8 after cut");
        assert!(s.ends_with(TRUNCATION_MARKER));
        assert!(rec.len() <= 256);
    }
}

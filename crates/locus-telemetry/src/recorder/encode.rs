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
    #[inline]
    pub fn new(buf: &'b mut [MaybeUninit<u8>]) -> Self {
        let cap = buf.len().min(layout::MAX_RECORD);
        let buf = &mut buf[..cap];
        assert!(
            cap >= RECORD_HEAD + 64,
            "record buffers are at least 96 bytes"
        );
        // SAFETY: cap >= RECORD_HEAD (asserted); the head is zeroed so that every byte
        // before `pos` is initialised from the start.
        unsafe {
            std::ptr::write_unaligned(
                buf.as_mut_ptr().cast::<[u8; RECORD_HEAD]>(),
                [0; RECORD_HEAD],
            )
        };
        Encoder {
            buf,
            pos: RECORD_HEAD,
            flags: 0,
            open_str: None,
        }
    }

    /// Whether anything was cut to fit so far.
    #[inline]
    pub fn truncated(&self) -> bool {
        self.flags & FLAG_TRUNCATED != 0
    }

    #[inline]
    fn room(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
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

    /// A fixed-size value, without a call to `memcpy`.
    #[inline]
    fn put_fixed<const K: usize>(&mut self, bytes: [u8; K]) -> bool {
        if K > self.room() {
            self.flags |= FLAG_TRUNCATED;
            return false;
        }
        // SAFETY: K bytes fit at `pos` (checked above).
        unsafe {
            std::ptr::write_unaligned(self.buf.as_mut_ptr().add(self.pos).cast::<[u8; K]>(), bytes)
        };
        self.pos += K;
        true
    }

    #[inline]
    pub fn u8(&mut self, v: u8) -> bool {
        self.put_fixed([v])
    }
    #[inline]
    pub fn u64(&mut self, v: u64) -> bool {
        self.put_fixed(v.to_le_bytes())
    }
    #[inline]
    pub fn i32(&mut self, v: i32) -> bool {
        self.put_fixed(v.to_le_bytes())
    }

    /// A string with a u32 length prefix, cut to fit the room left (minus a reserve for
    /// the items that follow, unless `last`).
    #[inline]
    pub fn str(&mut self, s: &[u8], last: bool) -> bool {
        let reserve = if last { 0 } else { RESERVE };
        // The common case: it fits whole; length and bytes in one go.
        if 4 + s.len() + reserve <= self.room() {
            self.put_fixed((s.len() as u32).to_le_bytes());
            self.put(s);
            return true;
        }
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
    #[inline]
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
            FieldValue::Bool(v) => self.put_fixed([tag::BOOL, u8::from(v)]),
            FieldValue::I64(v) => self.u8(tag::I64) && self.put_fixed(v.to_le_bytes()),
            FieldValue::U64(v) => self.u8(tag::U64) && self.put_fixed(v.to_le_bytes()),
            FieldValue::F64(v) => self.u8(tag::F64) && self.put_fixed(v.to_le_bytes()),
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
    #[inline]
    pub fn finish(mut self, seq: u64, ts_nanos: i64, kind: u8, level: u8) -> &'b [u8] {
        self.end_str();
        let len = (self.pos - RECORD_HEAD) as u32;
        let word1 = layout::head_word(len, kind, level, self.flags);
        let head: [u64; 4] = [0, word1.to_le(), seq.to_le(), (ts_nanos as u64).to_le()];
        // SAFETY: the buffer holds at least RECORD_HEAD bytes (asserted in `new`).
        unsafe { std::ptr::write_unaligned(self.buf.as_mut_ptr().cast::<[u64; 4]>(), head) };
        let pos = self.pos;
        // SAFETY: as in `written`; the borrow of `buf` moves out with the returned slice.
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), pos) }
    }
}

/// Raw writes into a buffer whose size was checked once for everything written.
struct Unchecked {
    p: *mut u8,
    pos: usize,
}

impl Unchecked {
    /// # Safety
    /// `pos + b.len()` must be within the buffer.
    #[inline(always)]
    unsafe fn bytes(&mut self, b: &[u8]) {
        // SAFETY: the caller guarantees `pos + b.len()` is within the buffer `p` points
        // into; `b` is a distinct borrow, so the ranges do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), self.p.add(self.pos), b.len()) };
        self.pos += b.len();
    }

    /// # Safety
    /// `pos + K` must be within the buffer.
    #[inline(always)]
    unsafe fn fixed<const K: usize>(&mut self, b: [u8; K]) {
        // SAFETY: the caller guarantees `pos + K` is within the buffer; unaligned writes
        // are what `write_unaligned` is for.
        unsafe { std::ptr::write_unaligned(self.p.add(self.pos).cast::<[u8; K]>(), b) };
        self.pos += K;
    }
}

/// Encodes a log record in one pass when all of it fits `buf` untruncated — the common
/// case — with a single size check up front instead of one per item. `None` means it
/// does not fit: use [`Encoder`], which truncates. Produces exactly the bytes the
/// `Encoder` would (same payload format), head included but for seq and time, which the
/// caller patches with [`patch_seq_ts`].
#[inline]
pub(crate) fn encode_log_fast<'b>(
    buf: &'b mut [MaybeUninit<u8>],
    level: u8,
    target: &str,
    message: &str,
    fields: &[(&str, FieldValue<'_>)],
) -> Option<&'b mut [u8]> {
    const MESSAGE_KEY: &[u8] = b"message";
    let mut total = RECORD_HEAD + 4 + target.len() + 2 + MESSAGE_KEY.len() + 4 + message.len();
    for (k, v) in fields {
        if k.len() > 255 {
            return None;
        }
        total += 2
            + k.len()
            + match v {
                FieldValue::Bool(_) => 1,
                FieldValue::I64(_) | FieldValue::U64(_) | FieldValue::F64(_) => 8,
                FieldValue::Str(s) => 4 + s.len(),
                FieldValue::Bytes(b) => 4 + b.len(),
            };
    }
    if total > buf.len() || total > layout::MAX_RECORD {
        return None;
    }
    let mut w = Unchecked {
        p: buf.as_mut_ptr().cast::<u8>(),
        pos: 0,
    };
    let len = (total - RECORD_HEAD) as u32;
    // SAFETY: every write below is accounted for in `total`, which fits `buf`.
    unsafe {
        w.fixed([0u8; 8]);
        w.fixed(layout::head_word(len, layout::kind::LOG, level, 0).to_le_bytes());
        w.fixed([0u8; 16]); // seq and time, patched by the caller
        w.fixed((target.len() as u32).to_le_bytes());
        w.bytes(target.as_bytes());
        w.fixed([MESSAGE_KEY.len() as u8]);
        w.bytes(MESSAGE_KEY);
        w.fixed([tag::STR]);
        w.fixed((message.len() as u32).to_le_bytes());
        w.bytes(message.as_bytes());
        for (k, v) in fields {
            w.fixed([k.len() as u8]);
            w.bytes(k.as_bytes());
            match v {
                FieldValue::Bool(b) => w.fixed([tag::BOOL, u8::from(*b)]),
                FieldValue::I64(x) => {
                    w.fixed([tag::I64]);
                    w.fixed(x.to_le_bytes());
                }
                FieldValue::U64(x) => {
                    w.fixed([tag::U64]);
                    w.fixed(x.to_le_bytes());
                }
                FieldValue::F64(x) => {
                    w.fixed([tag::F64]);
                    w.fixed(x.to_le_bytes());
                }
                FieldValue::Str(s) => {
                    w.fixed([tag::STR]);
                    w.fixed((s.len() as u32).to_le_bytes());
                    w.bytes(s.as_bytes());
                }
                FieldValue::Bytes(b) => {
                    w.fixed([tag::STR]);
                    w.fixed((b.len() as u32).to_le_bytes());
                    w.bytes(b);
                }
            }
        }
        debug_assert_eq!(w.pos, total);
        Some(std::slice::from_raw_parts_mut(w.p, total))
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
    fn the_fast_path_writes_exactly_what_the_careful_encoder_writes() {
        let fields = [
            ("lat", FieldValue::F64(52.52)),
            ("n", FieldValue::I64(-3)),
            ("u", FieldValue::U64(u64::MAX)),
            ("ok", FieldValue::Bool(true)),
            ("s", FieldValue::Str("gps")),
            ("b", FieldValue::Bytes(b"\xff")),
        ];
        let mut a = [MaybeUninit::uninit(); 1024];
        let fast = encode_log_fast(&mut a, 3, "locus::gps", "fix", &fields).expect("fits");
        layout::set_seq_ts(fast, 9, 77);
        let mut b = [MaybeUninit::uninit(); 1024];
        let mut e = Encoder::new(&mut b);
        e.str(b"locus::gps", false);
        e.field("message", FieldValue::Str("fix"));
        for (k, v) in fields {
            e.field(k, v);
        }
        let careful = e.finish(9, 77, layout::kind::LOG, 3);
        assert_eq!(&fast[..], careful);
        // Too big for the buffer: the fast path declines, the careful one truncates.
        let mut small = [MaybeUninit::uninit(); 128];
        assert!(encode_log_fast(&mut small, 2, "t", &"x".repeat(200), &[]).is_none());
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_marker() {
        let mut buf = [MaybeUninit::uninit(); 256];
        let mut e = Encoder::new(&mut buf);
        let text = "ü".repeat(500);
        e.str(text.as_bytes(), true);
        let rec = e.finish(1, 0, layout::kind::LOG, 2);
        let flags = layout::RecordHead::read(rec).expect("a head").flags;
        assert_eq!(flags & FLAG_TRUNCATED, FLAG_TRUNCATED);
        let s = std::str::from_utf8(&rec[RECORD_HEAD + 4..]).expect("valid utf-8 after cut");
        assert!(s.ends_with(TRUNCATION_MARKER));
        assert!(rec.len() <= 256);
    }
}

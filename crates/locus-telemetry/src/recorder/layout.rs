//! The on-disk (and in-memory) layout of the ring: a 4 KiB file header, then slots of
//! 64 bytes grouped in chunks. This module is the single source of truth for offsets,
//! magic numbers and the checksum, shared by the writer and every reader.
//!
//! ```text
//! file:   [ header (4096) ][ chunk 0 ][ chunk 1 ] ... [ chunk n-1 ]
//! chunk:  16 slots of 64 bytes; a thread fills one chunk privately, so two writers
//!         never share a cache line
//! record: [ commit u64 | len u32 | kind u8 | level u8 | flags u16 | seq u64 | ts i64 ]
//!         [ payload ... ]   (a 32-byte head, offsets in [`head`]; records start on a
//!         slot boundary; a chunk holds one lease's records in sequence order)
//! commit: RECORD_MAGIC in the low half, checksum of bytes 8.. in the high half; written
//!         last, so a record whose commit word verifies was completely written
//! ```

/// File magic, first 8 bytes of a ring file.
pub const FILE_MAGIC: [u8; 8] = *b"LOCUSRB1";
/// Layout version written in the header.
pub const FILE_VERSION: u32 = 1;
/// Bytes before the first slot.
///
/// A file-format constant, not the page size: the same file is read on 4 KiB-page
/// desktops and 16 KiB-page phones, so it stays 4096 everywhere. On a kernel with larger
/// pages the first slot starts mid-page (the header shares its page with the first
/// slots) and the file's end may fall mid-page. Both are harmless because the ring never
/// asks the kernel for anything at these offsets: the file is mapped whole from offset 0
/// (`file::map_guarded`), never `msync`ed or `mprotect`ed, and the only ranged calls
/// (`madvise`, the pretouch stride) are rounded to the runtime page size
/// (`ring::page_size`).
pub const HEADER_BYTES: usize = 4096;
/// Bytes per slot: one cache line.
pub const SLOT: usize = 64;
/// Slots per chunk (the unit a thread leases).
pub const CHUNK_SLOTS: usize = 16;
/// Bytes per chunk.
pub const CHUNK: usize = SLOT * CHUNK_SLOTS;
/// Bytes of a record head.
pub const RECORD_HEAD: usize = 32;
/// Largest record (head and payload) the ring accepts; longer content is truncated.
pub const MAX_RECORD: usize = 16 * 1024;
/// Low 32 bits of a committed record's first word.
pub const RECORD_MAGIC: u32 = 0x4345_524C; // "LREC"
/// Smallest ring: enough chunks that one large record never laps the whole ring.
pub const MIN_RING_BYTES: usize = 64 * 1024;
/// Largest ring (64 MiB): readers and salvage never read more than this past the header,
/// whatever a file's size or header claims.
pub const MAX_RING_BYTES: usize = 64 * 1024 * 1024;
/// Default ring size (1 MiB).
pub const DEFAULT_RING_BYTES: usize = 1024 * 1024;

/// Record kinds as stored in the head.
pub mod kind {
    /// A log line.
    pub const LOG: u8 = 1;
    /// A crash tombstone.
    pub const CRASH: u8 = 2;
    /// A metric sample.
    pub const METRIC: u8 = 3;
    /// A session marker.
    pub const SESSION: u8 = 4;
    /// A histogram summary.
    pub const HISTOGRAM: u8 = 5;
    /// A hang of a watched loop (start, stack or end).
    pub const HANG: u8 = 6;
}

/// Where each field of the 32-byte record head lies (little-endian). Every reader and
/// writer uses these names; nothing else spells an offset.
pub mod head {
    use std::ops::Range;
    /// The commit word: [`super::RECORD_MAGIC`] and the checksum, written last.
    pub const COMMIT: Range<usize> = 0..8;
    /// Payload length (`u32`), the head excluded.
    pub const LEN: Range<usize> = 8..12;
    /// Record kind (`u8`, see [`super::kind`]).
    pub const KIND: usize = 12;
    /// Level (`u8`).
    pub const LEVEL: usize = 13;
    /// Flags (`u16`, e.g. [`super::FLAG_TRUNCATED`]). Part of the format: the encoder
    /// writes the flag bytes by position, so nothing in the library names this range.
    #[allow(dead_code)]
    pub const FLAGS: Range<usize> = 14..16;
    /// Sequence number (`u64`).
    pub const SEQ: Range<usize> = 16..24;
    /// Time, nanoseconds since the Unix epoch (`i64`).
    pub const TS: Range<usize> = 24..32;
}

/// The head's second word (bytes 8..16: length, kind, level, flags) as one `u64`, so
/// writers store it with one instruction.
#[inline]
pub const fn head_word(len: u32, kind: u8, level: u8, flags: u16) -> u64 {
    len as u64 | (kind as u64) << 32 | (level as u64) << 40 | (flags as u64) << 48
}

/// A record head as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHead {
    /// The commit word.
    pub commit: u64,
    /// Payload length.
    pub len: u32,
    /// Record kind.
    pub kind: u8,
    /// Level.
    pub level: u8,
    /// Flags.
    pub flags: u16,
    /// Sequence number.
    pub seq: u64,
    /// Time, nanoseconds since the Unix epoch.
    pub ts: i64,
}

impl RecordHead {
    /// Reads the head at the start of `b`; `None` if `b` is shorter than a head.
    #[inline]
    pub fn read(b: &[u8]) -> Option<RecordHead> {
        let b: &[u8; RECORD_HEAD] = b.get(..RECORD_HEAD)?.try_into().ok()?;
        let u64_at = |r: std::ops::Range<usize>| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[r]);
            u64::from_le_bytes(w)
        };
        Some(RecordHead {
            commit: u64_at(head::COMMIT),
            len: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            kind: b[head::KIND],
            level: b[head::LEVEL],
            flags: u16::from_le_bytes([b[14], b[15]]),
            seq: u64_at(head::SEQ),
            ts: u64_at(head::TS) as i64,
        })
    }

    /// Bytes of the whole record, head included.
    pub fn total(&self) -> usize {
        RECORD_HEAD + self.len as usize
    }
}

/// The sequence number of an encoded record (0 if it is shorter than a head).
#[inline]
pub fn seq_of(record: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    if let Some(b) = record.get(head::SEQ) {
        w.copy_from_slice(b);
    }
    u64::from_le_bytes(w)
}

/// Writes the sequence number and time into an encoded record's head.
#[inline]
pub fn set_seq_ts(record: &mut [u8], seq: u64, ts_nanos: i64) {
    if let Some(b) = record.get_mut(head::SEQ) {
        b.copy_from_slice(&seq.to_le_bytes());
    }
    if let Some(b) = record.get_mut(head::TS) {
        b.copy_from_slice(&ts_nanos.to_le_bytes());
    }
}

/// Flag bit: some content of the record was truncated to fit.
pub const FLAG_TRUNCATED: u16 = 1;

/// Slots a record of `total` bytes (head included) occupies.
pub const fn slots_for(total: usize) -> usize {
    total.div_ceil(SLOT)
}

/// Checksum over everything after the commit word: length, sequence, time, kind, level,
/// flags and payload, as little-endian words (the last one zero-padded). 32 bits are
/// plenty to tell a torn record from a whole one.
///
/// Hand-rolled rather than xxh3 on purpose: the writer folds it into the loop that stores
/// the record word by word, and the fatal-signal handler computes it on the alternate
/// signal stack (~5 KiB usable), where xxh3's unoptimised frames overflowed.
#[derive(Debug, Clone, Copy)]
pub struct Checksum(u64);

const MIX: u64 = 0x9E37_79B9_7F4A_7C15;

impl Checksum {
    /// Starts a checksum over `len` bytes.
    #[inline]
    pub fn new(len: usize) -> Checksum {
        Checksum(MIX ^ len as u64)
    }

    /// Adds the next full word.
    #[inline]
    pub fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(MIX);
        self.0 ^= self.0 >> 29;
    }

    /// Adds the zero-padded last word (zero when the length is a multiple of 8).
    #[inline]
    pub fn finish(mut self, tail: u64) -> u32 {
        self.0 = (self.0 ^ tail).wrapping_mul(MIX);
        self.0 ^= self.0 >> 32;
        self.0 as u32
    }
}

/// Splits bytes into their full little-endian words and the zero-padded tail word.
#[inline]
pub fn words(bytes: &[u8]) -> (impl Iterator<Item = u64> + '_, u64) {
    let chunks = bytes.chunks_exact(8);
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    let full = chunks.map(|c| {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        u64::from_le_bytes(w)
    });
    (full, u64::from_le_bytes(tail))
}

/// The checksum of `bytes_after_commit` (what readers verify).
pub fn checksum(bytes_after_commit: &[u8]) -> u32 {
    let mut c = Checksum::new(bytes_after_commit.len());
    let (full, tail) = words(bytes_after_commit);
    for w in full {
        c.word(w);
    }
    c.finish(tail)
}

/// The commit word for a checksum.
#[inline]
pub fn commit_word_for(sum: u32) -> u64 {
    u64::from(RECORD_MAGIC) | (u64::from(sum) << 32)
}

/// The commit word for a record whose bytes after the commit word are given.
pub fn commit_word(bytes_after_commit: &[u8]) -> u64 {
    commit_word_for(checksum(bytes_after_commit))
}

/// Rounds a requested ring size to whole chunks within sane bounds.
pub fn ring_bytes_for(requested: usize) -> usize {
    let clamped = requested.clamp(MIN_RING_BYTES, MAX_RING_BYTES);
    clamped - clamped % CHUNK
}

/// Records a thread's chunk lease may serve after the record that took it (counting
/// every record written meanwhile) before the lease counts as stale: half the ring's
/// chunks. Far from the lap that would hand the chunk out again, and it bounds how much
/// older than its neighbours a chunk's records can be — which lets a reader tell records
/// lost to the ring's lap from torn ones (see `Snapshot`).
pub fn lease_span(ring_bytes: usize) -> u64 {
    (ring_bytes / CHUNK / 2) as u64
}

/// The file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// Bytes of slot area after the header.
    pub ring_bytes: u64,
}

impl FileHeader {
    /// Serialises the header page's meaningful prefix.
    pub fn encode(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..8].copy_from_slice(&FILE_MAGIC);
        b[8..12].copy_from_slice(&FILE_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(SLOT as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.ring_bytes.to_le_bytes());
        b[24..28].copy_from_slice(&(CHUNK_SLOTS as u32).to_le_bytes());
        let sum = checksum(&b[0..28]);
        b[28..32].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Parses and validates a header; `None` for anything that is not a header this
    /// build wrote.
    pub fn decode(b: &[u8]) -> Option<FileHeader> {
        let b = b.get(0..32)?;
        if b[0..8] != FILE_MAGIC {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        if u32_at(28) != checksum(&b[0..28]) || u32_at(8) != FILE_VERSION {
            return None;
        }
        if u32_at(12) as usize != SLOT || u32_at(24) as usize != CHUNK_SLOTS {
            return None;
        }
        let mut rb = [0u8; 8];
        rb.copy_from_slice(&b[16..24]);
        let ring_bytes = u64::from_le_bytes(rb);
        if ring_bytes < MIN_RING_BYTES as u64
            || ring_bytes > MAX_RING_BYTES as u64
            || ring_bytes % CHUNK as u64 != 0
        {
            return None;
        }
        Some(FileHeader { ring_bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = FileHeader {
            ring_bytes: DEFAULT_RING_BYTES as u64,
        };
        let mut b = h.encode();
        assert_eq!(FileHeader::decode(&b), Some(h));
        b[17] ^= 1;
        assert_eq!(FileHeader::decode(&b), None);
        assert_eq!(FileHeader::decode(&[0u8; 10]), None);
    }

    #[test]
    fn ring_sizes_are_whole_chunks() {
        assert_eq!(ring_bytes_for(1), MIN_RING_BYTES);
        assert_eq!(ring_bytes_for(DEFAULT_RING_BYTES + 5) % CHUNK, 0);
        assert_eq!(ring_bytes_for(usize::MAX), MAX_RING_BYTES);
    }
}

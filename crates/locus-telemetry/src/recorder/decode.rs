//! Reading records back out of ring bytes: the recovery scan. It walks every slot,
//! accepts a record only when its commit word, bounds and checksum all hold, and decodes
//! its payload with bounds checks everywhere. Any byte content — torn, truncated,
//! zero-filled or random — yields fewer records, never a panic.

use super::encode::tag;
use super::layout::{self, kind, RecordHead, CHUNK_SLOTS, RECORD_HEAD, RECORD_MAGIC, SLOT};
use crate::record::{
    Body, CrashKind, HangPhase, HangRecord, HistogramSummary, Level, LogRecord, MetricKind, MetricSample, Record,
    SessionEvent, SessionRecord, Tombstone, Value,
};

/// A record found in ring bytes, with where it sits (for the writer's recovery).
#[derive(Debug, Clone)]
pub struct Found {
    /// The decoded record.
    pub record: Record,
    /// Slot index of its head.
    pub slot: usize,
    /// Slots it occupies.
    pub slots: usize,
    /// Whether its content was truncated when written.
    pub truncated: bool,
}

/// Scans ring bytes (the slot area, without the file header) for valid records, in slot
/// order. Callers sort by sequence number.
///
/// Only a chunk's current lease is read: a thread fills a chunk from its first slot in
/// sequence order, so the record at the first slot (or a multi-chunk record covering it)
/// is the lease's first, and a record further on with a smaller sequence number is an
/// older lap's leftover behind a lease that ended early — never taken as current. A
/// chunk whose first slot holds no record has no lease to read (its first record is
/// being written, or was torn).
pub fn scan(area: &[u8]) -> Vec<Found> {
    let mut out = Vec::new();
    walk(area, parse_at, |found| out.push(found));
    out
}

/// Walks the current leases of ring bytes as [`scan`] describes, handing each record
/// `parse` accepts (with its sequence number and slots) to `take`, in slot order.
fn walk<T>(
    area: &[u8],
    parse: impl Fn(&[u8], usize) -> Option<(T, u64, usize)>,
    mut take: impl FnMut(T),
) {
    let slots = area.len() / SLOT;
    let mut i = 0;
    // The sequence number that opened the lease of the chunk `i` is in.
    let mut lease = 0;
    while i < slots {
        let chunk_end = (i / CHUNK_SLOTS + 1) * CHUNK_SLOTS;
        match parse(area, i) {
            Some((found, seq, used)) => {
                if i % CHUNK_SLOTS == 0 {
                    lease = seq;
                }
                if seq >= lease {
                    take(found);
                    // A record running into later chunks opened their leases too.
                    i += used;
                    if i > chunk_end {
                        lease = seq;
                    }
                } else {
                    i = (i + used).min(chunk_end);
                }
            }
            None if i % CHUNK_SLOTS == 0 => i = chunk_end,
            None => i += 1,
        }
    }
}

/// What a writer needs to continue a ring, found by the walk [`scan`] makes but without
/// decoding what it does not need: the sequence number to continue from, the chunk to
/// lease next and the count, from each record's head and checksum; only session and
/// crash records (what the previous session's verdict reads) are decoded.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// Valid records found.
    pub count: usize,
    /// The next sequence number (1 in an empty ring).
    pub next_seq: u64,
    /// The absolute chunk number to lease next.
    pub cursor: u64,
    /// The session and crash records, oldest first.
    pub history: Vec<Record>,
    /// One past the sequence number of the newest record that starts a chunk.
    cursor_seq: u64,
}

impl Recovery {
    /// A ring that holds `found` (as [`scan`] returned them) continues after them.
    pub fn of(found: &[Found]) -> Recovery {
        let mut r = Recovery::default();
        for f in found {
            r.add(f.record.seq, f.slot, f.slots);
        }
        r.history = found
            .iter()
            .filter(|f| matches!(f.record.body, Body::Session(_) | Body::Crash(_)))
            .map(|f| f.record.clone())
            .collect();
        r.finish()
    }

    fn add(&mut self, seq: u64, slot: usize, slots: usize) {
        self.count += 1;
        self.next_seq = self.next_seq.max(seq + 1);
        if slot.is_multiple_of(CHUNK_SLOTS) && seq + 1 >= self.cursor_seq {
            // Continue after the chunks leased last: those of the newest record that
            // starts a chunk (the newest record may sit in an older chunk a slow thread
            // still held), all of them when it spans several (a tombstone with its
            // backtrace).
            self.cursor_seq = seq + 1;
            self.cursor = (slot + slots).div_ceil(CHUNK_SLOTS) as u64;
        }
    }

    fn finish(mut self) -> Recovery {
        self.next_seq = self.next_seq.max(1);
        self.history.sort_by_key(|r| r.seq);
        self.history.dedup_by_key(|r| r.seq);
        self
    }
}

/// Finds what a writer needs to continue the ring in `area` (see [`Recovery`]).
///
/// Optimistic first: the walk follows record heads (commit magic and bounds), and the
/// checksums of every record it took are verified afterwards, four records interleaved
/// (the checksum is one long dependency chain per record, so four at once run about
/// four times as fast as one after another). If every one holds, that walk took what
/// the exact one would have; if any fails (a torn or damaged record), the exact walk
/// runs instead.
pub(crate) fn recover(area: &[u8]) -> Recovery {
    // A capacity guess only: when it cannot be had, the walk grows the vector as it goes.
    let mut seen = Vec::new();
    let _ = seen.try_reserve(area.len() / 128);
    walk(area, head_at, |h| seen.push(h));
    recover_optimistic(area, &seen).unwrap_or_else(|| recover_exact(area))
}

fn recover_optimistic(area: &[u8], seen: &[Seen]) -> Option<Recovery> {
    if !checksums_hold(area, seen) {
        return None;
    }
    let mut r = Recovery::default();
    for h in seen {
        r.add(h.head.seq, h.slot, layout::slots_for(h.head.total()));
        if matches!(h.head.kind, kind::SESSION | kind::CRASH) {
            let start = h.slot * SLOT;
            let payload = area.get(start + RECORD_HEAD..start + h.head.total())?;
            let body = decode_body(h.head.kind, h.head.level, payload)?;
            r.history.push(Record::new(h.head.seq, h.head.ts, body));
        }
    }
    Some(r.finish())
}

/// The exact walk: every record checked before the walk moves on.
fn recover_exact(area: &[u8]) -> Recovery {
    let mut r = Recovery::default();
    let mut history = Vec::new();
    walk(area, check_at, |(seq, slot, slots, record)| {
        r.add(seq, slot, slots);
        history.extend(record);
    });
    r.history = history;
    r.finish()
}

/// A record head the optimistic walk took, and where.
struct Seen {
    slot: usize,
    head: RecordHead,
}

/// The head at `slot`, if its commit magic and bounds hold (the checksum is not looked
/// at).
fn head_at(area: &[u8], slot: usize) -> Option<(Seen, u64, usize)> {
    let start = slot * SLOT;
    let head = RecordHead::read(area.get(start..)?)?;
    if head.commit as u32 != RECORD_MAGIC || head.total() > layout::MAX_RECORD {
        return None;
    }
    area.get(start..start + head.total())?;
    let (seq, slots) = (head.seq, layout::slots_for(head.total()));
    Some((Seen { slot, head }, seq, slots))
}

/// Whether the commit word of every record in `seen` matches its checksum.
fn checksums_hold(area: &[u8], seen: &[Seen]) -> bool {
    let body = |h: &Seen| {
        let start = h.slot * SLOT;
        area.get(start + layout::head::LEN.start..start + h.head.total())
    };
    let mut groups = seen.chunks_exact(4);
    for group in &mut groups {
        let (Some(a), Some(b), Some(c), Some(d)) =
            (body(&group[0]), body(&group[1]), body(&group[2]), body(&group[3]))
        else {
            return false;
        };
        let bodies = [a, b, c, d];
        let mut sums = bodies.map(|b| layout::Checksum::new(b.len()));
        let mut words = bodies.map(|b| b.chunks_exact(8));
        let common = bodies.iter().map(|b| b.len() / 8).min().unwrap_or(0);
        for _ in 0..common {
            for (sum, words) in sums.iter_mut().zip(words.iter_mut()) {
                sum.word(words.next().map_or(0, word));
            }
        }
        for ((sum, words), h) in sums.into_iter().zip(words).zip(group) {
            if finish(sum, words) != h.head.commit {
                return false;
            }
        }
    }
    groups.remainder().iter().all(|h| {
        body(h).is_some_and(|b| layout::commit_word(b) == h.head.commit)
    })
}

fn word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(bytes);
    u64::from_le_bytes(w)
}

/// Adds the words `rest` still holds and the tail; the commit word the sum makes.
fn finish(mut sum: layout::Checksum, mut rest: std::slice::ChunksExact<'_, u8>) -> u64 {
    for w in &mut rest {
        sum.word(word(w));
    }
    let tail = rest.remainder();
    let mut t = [0u8; 8];
    t[..tail.len()].copy_from_slice(tail);
    layout::commit_word_for(sum.finish(u64::from_le_bytes(t)))
}

/// Like [`parse_at`], but decodes only session and crash records: the rest are checked
/// (commit word, bounds, checksum) and their place returned.
#[allow(clippy::type_complexity)]
fn check_at(area: &[u8], slot: usize) -> Option<((u64, usize, usize, Option<Record>), u64, usize)> {
    let (head, bytes) = checked_at(area, slot)?;
    let record = match head.kind {
        kind::SESSION | kind::CRASH => Some(Record::new(
            head.seq,
            head.ts,
            decode_body(head.kind, head.level, &bytes[RECORD_HEAD..])?,
        )),
        _ => None,
    };
    let slots = layout::slots_for(head.total());
    Some(((head.seq, slot, slots, record), head.seq, slots))
}

/// The raw bytes (head and payload) of the record whose head is at `slot`, as stored.
pub(crate) fn raw_at(area: &[u8], slot: usize) -> Option<&[u8]> {
    let start = slot * SLOT;
    let head = RecordHead::read(area.get(start..)?)?;
    area.get(start..start + head.total())
}

/// The head and bytes of the record at `slot`, if its commit word, bounds and checksum
/// hold.
fn checked_at(area: &[u8], slot: usize) -> Option<(RecordHead, &[u8])> {
    let start = slot * SLOT;
    let head = RecordHead::read(area.get(start..)?)?;
    if head.commit as u32 != RECORD_MAGIC {
        return None;
    }
    let total = head.total();
    if total > layout::MAX_RECORD {
        return None;
    }
    let bytes = area.get(start..start + total)?;
    if layout::commit_word(&bytes[layout::head::LEN.start..]) != head.commit {
        return None;
    }
    Some((head, bytes))
}

fn parse_at(area: &[u8], slot: usize) -> Option<(Found, u64, usize)> {
    let (head, bytes) = checked_at(area, slot)?;
    let total = head.total();
    let body = decode_body(head.kind, head.level, &bytes[RECORD_HEAD..])?;
    let found = Found {
        record: Record::new(head.seq, head.ts, body),
        slot,
        slots: layout::slots_for(total),
        truncated: head.flags & layout::FLAG_TRUNCATED != 0,
    };
    Some((found, head.seq, layout::slots_for(total)))
}

/// Decodes a payload of the given kind; `None` if it does not parse.
pub(crate) fn decode_body(kind_byte: u8, level: u8, payload: &[u8]) -> Option<Body> {
    let mut r = Reader { b: payload };
    match kind_byte {
        kind::LOG => {
            let target = r.str()?;
            let mut message = String::new();
            let mut fields = Vec::new();
            while !r.b.is_empty() {
                let (k, v) = r.field()?;
                if k == "message" && message.is_empty() {
                    if let Value::Str(s) = v {
                        message = s;
                        continue;
                    }
                }
                fields.push((k, v));
            }
            Some(Body::Log(LogRecord {
                level: Level::from_u8(level),
                target,
                message,
                fields,
            }))
        }
        kind::METRIC => {
            let name = r.str()?;
            let metric = match r.u8()? {
                0 => MetricKind::Counter,
                1 => MetricKind::Gauge,
                _ => MetricKind::Histogram,
            };
            let value = f64::from_le_bytes(r.take(8)?.try_into().ok()?);
            Some(Body::Metric(MetricSample {
                name,
                metric,
                value,
            }))
        }
        kind::HISTOGRAM => {
            let name = r.str()?;
            let count = r.u64()?;
            let (sum, min, max) = (
                f64::from_bits(r.u64()?),
                f64::from_bits(r.u64()?),
                f64::from_bits(r.u64()?),
            );
            Some(Body::Histogram(HistogramSummary {
                name,
                count,
                sum,
                min,
                max,
            }))
        }
        kind::SESSION => {
            let event = match r.u8()? {
                0 => SessionEvent::Start,
                _ => SessionEvent::CleanExit,
            };
            Some(Body::Session(SessionRecord {
                event,
                session_id: r.str()?,
                app_version: r.str()?,
            }))
        }
        kind::CRASH => {
            let crash = match r.u8()? {
                0 => CrashKind::Panic,
                2 => CrashKind::Exception,
                _ => CrashKind::Signal,
            };
            let signal = i32::from_le_bytes(r.take(4)?.try_into().ok()?);
            let uptime_ms = r.u64()?;
            Some(Body::Crash(Tombstone {
                crash,
                signal: (signal != 0).then_some(signal),
                uptime_ms,
                message: r.str()?,
                location: r.str()?,
                thread: r.str()?,
                backtrace: r.str()?,
                app_version: r.str()?,
                os: r.str()?,
            }))
        }
        kind::HANG => {
            let phase = match r.u8()? {
                0 => HangPhase::Start,
                1 => HangPhase::Stack,
                _ => HangPhase::End,
            };
            let (expected_gap_ms, measured_ms, start_seq) = (r.u64()?, r.u64()?, r.u64()?);
            let loop_name = r.str()?;
            let stack = r.str()?;
            Some(Body::Hang(HangRecord {
                phase,
                loop_name,
                expected_gap_ms,
                measured_ms,
                start_seq: (start_seq != 0).then_some(start_seq),
                stack: (!stack.is_empty()).then_some(stack),
            }))
        }
        _ => None,
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.b.len() {
            return None;
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
    fn str(&mut self) -> Option<String> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        Some(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
    fn field(&mut self) -> Option<(String, Value)> {
        let klen = self.u8()? as usize;
        let key = String::from_utf8_lossy(self.take(klen)?).into_owned();
        let v = match self.u8()? {
            tag::BOOL => Value::Bool(self.u8()? != 0),
            tag::I64 => Value::I64(i64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            tag::U64 => Value::from(u64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            tag::F64 => Value::F64(f64::from_le_bytes(self.take(8)?.try_into().ok()?)),
            tag::STR => Value::Str(self.str()?),
            _ => return None,
        };
        Some((key, v))
    }
}

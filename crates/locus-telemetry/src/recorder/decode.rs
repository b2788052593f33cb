//! Reading records back out of ring bytes: the recovery scan. It walks every slot,
//! accepts a record only when its commit word, bounds and checksum all hold, and decodes
//! its payload with bounds checks everywhere. Any byte content — torn, truncated,
//! zero-filled or random — yields fewer records, never a panic.

use super::encode::tag;
use super::layout::{self, kind, RecordHead, CHUNK_SLOTS, RECORD_HEAD, RECORD_MAGIC, SLOT};
use crate::record::{
    Body, CrashKind, HistogramSummary, Level, LogRecord, MetricKind, MetricSample, Record,
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
    let slots = area.len() / SLOT;
    let mut out = Vec::new();
    let mut i = 0;
    // The sequence number that opened the lease of the chunk `i` is in.
    let mut lease = 0;
    while i < slots {
        let chunk_end = (i / CHUNK_SLOTS + 1) * CHUNK_SLOTS;
        match parse_at(area, i) {
            Some((found, used)) => {
                let seq = found.record.seq;
                if i % CHUNK_SLOTS == 0 {
                    lease = seq;
                }
                if seq >= lease {
                    out.push(found);
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
    out
}

/// The raw bytes (head and payload) of the record whose head is at `slot`, as stored.
pub(crate) fn raw_at(area: &[u8], slot: usize) -> Option<&[u8]> {
    let start = slot * SLOT;
    let head = RecordHead::read(area.get(start..)?)?;
    area.get(start..start + head.total())
}

fn parse_at(area: &[u8], slot: usize) -> Option<(Found, usize)> {
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
    let body = decode_body(head.kind, head.level, &bytes[RECORD_HEAD..])?;
    let found = Found {
        record: Record::new(head.seq, head.ts, body),
        slot,
        slots: layout::slots_for(total),
        truncated: head.flags & layout::FLAG_TRUNCATED != 0,
    };
    Some((found, layout::slots_for(total)))
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
            let mut f = || {
                r.take(8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes)
            };
            let count = f()?;
            let (sum, min, max) = (
                f64::from_bits(f()?),
                f64::from_bits(f()?),
                f64::from_bits(f()?),
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
                _ => CrashKind::Signal,
            };
            let signal = i32::from_le_bytes(r.take(4)?.try_into().ok()?);
            let uptime_ms = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
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

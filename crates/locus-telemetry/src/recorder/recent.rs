//! `recent(n)` read backwards from the head of the ring: the Debug screen's newest `n`
//! records at a cost that grows with `n`, not with the ring (a full 64 MiB ring decoded
//! whole took 0.4 s and a gigabyte for `recent(i32::MAX)`).
//!
//! Chunks are leased in sequence order, so the newest records sit in the chunks leased
//! last: the walk starts at the chunk cursor and goes back one chunk at a time, decoding
//! only those chunks, until it holds every record of the window `[next_seq - n,
//! next_seq)`. A quiet thread may still be filling a chunk it leased a while ago (a lease
//! lasts until the ring has taken `lease_span` more records), so the walk goes on past
//! chunks without window records until the window is complete — bounded by `n` plus that
//! stale-lease distance plus the ring's extra chunks, and by the ring. A window that
//! cannot complete (a record torn by a kill, or still being written) costs that bound:
//! at worst half the ring, still without the full copy.

use super::decode;
use super::layout::{self, RecordHead, CHUNK_SLOTS, SLOT};
use super::ring::Ring;
use crate::record::Record;
use std::collections::BTreeMap;

/// The newest `n` records of `ring` (fewer if it holds fewer), oldest first.
pub(crate) fn recent(ring: &Ring, n: usize) -> Vec<Record> {
    let hi = ring.next_seq();
    let lo = hi.saturating_sub(n as u64).max(1);
    if n == 0 || hi <= lo {
        return Vec::new();
    }
    let want = (hi - lo) as usize;
    let cursor = ring.chunk_cursor();
    let n_chunks = ring.n_chunks();
    let budget = (n as u64)
        .saturating_add(ring.stale_lease_chunks())
        .saturating_add(1)
        .min(n_chunks);
    let mut window: BTreeMap<u64, Record> = BTreeMap::new();
    let mut area = Vec::with_capacity(layout::CHUNK);
    for back in 1..=budget {
        let Some(abs) = cursor.checked_sub(back) else {
            break;
        };
        let first = ring.first_slot_of(abs);
        area.clear();
        ring.copy_slots(first, CHUNK_SLOTS, &mut area);
        // A record longer than a chunk starts at its chunk's first slot: read all of it.
        if let Some(head) = RecordHead::read(&area) {
            let slots = layout::slots_for(head.total().min(layout::MAX_RECORD));
            if head.commit as u32 == layout::RECORD_MAGIC && slots > CHUNK_SLOTS {
                ring.copy_slots(first + CHUNK_SLOTS, slots - CHUNK_SLOTS, &mut area);
            }
        }
        debug_assert!(area.len() % SLOT == 0);
        for found in decode::scan(&area) {
            let seq = found.record.seq;
            // Records written while we read are left out: the window is the newest `n`
            // as of the call.
            if (lo..hi).contains(&seq) {
                window.insert(seq, found.record);
            }
        }
        if window.len() >= want {
            break;
        }
    }
    window.into_values().collect()
}

//! The lock-free ring: slot memory (a shared file mapping or a heap fallback), chunk
//! leases and the commit protocol.
//!
//! Why chunks: two threads appending to one shared cursor write neighbouring records on
//! the same cache lines and pay ~160 ns each in ping-pong. Here each thread leases a
//! 1 KiB chunk with one atomic operation and fills it privately; only the sequence
//! counter is shared. A lease whose chunk has since been handed out again (the ring
//! lapped it) is dropped and a new one taken. Crash paths never use the thread's lease
//! (a signal may interrupt a write in progress): they take dedicated chunks.
//!
//! Every store into slot memory is an atomic `u64` store, so concurrent readers in this
//! process (snapshots) and in others (`locus-diag buffer --follow`) never race in the
//! language's sense; torn records are told apart by their checksum.

use super::decode::{self, Found, Recovery};
use super::fault;
use super::layout::{self, CHUNK_SLOTS, SLOT};
use memmap2::MmapMut;
use std::cell::Cell;
use std::fs::File;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};

/// Keeps a hot atomic on its own cache lines (adjacent-line prefetch included).
#[repr(align(128))]
pub(crate) struct Padded<T>(pub T);

/// Where the slot memory lives.
pub(crate) enum Backing {
    /// A mapped ring file; the `File` holds the advisory lock for our lifetime. The guard
    /// (dropped first, before the unmap) lets a SIGBUS in the mapping be survived.
    File {
        guard: fault::Guard,
        map: MmapMut,
        _file: File,
    },
    /// The heap fallback.
    Heap(Box<[AtomicU64]>),
}

/// The ring proper.
pub(crate) struct Ring {
    id: u64,
    base: *const AtomicU64,
    slots: usize,
    n_chunks: u64,
    /// See [`layout::lease_span`].
    lease_span: u64,
    /// Chunks consumed beyond one per record: multi-chunk records and the chunks they
    /// skip at the end of the ring (see `reserve`).
    extra_chunks: Padded<AtomicU64>,
    chunk_cursor: Padded<AtomicU64>,
    next_seq: Padded<AtomicU64>,
    /// Absolute chunk number up to which `pretouch` has prepared the memory.
    pretouched: AtomicU64,
    /// The chunk cursor `pretouch` saw last (`u64::MAX` before its first look).
    pretouch_seen: AtomicU64,
    /// `MADV_POPULATE_WRITE` was refused once (kernel before 5.14): touch pages instead.
    populate_refused: AtomicBool,
    backing: Backing,
}

// SAFETY: `base` points into `backing`, which lives as long as the ring and is only
// accessed through atomics.
unsafe impl Send for Ring {}
// SAFETY: as above; all shared mutation goes through atomics.
unsafe impl Sync for Ring {}

#[derive(Clone, Copy)]
struct Lease {
    ring: u64,
    /// Sequence number of the record that took the lease.
    seq: u64,
    /// `extra_chunks` when the lease was taken.
    extra: u64,
    next: usize,
    end: usize,
}

thread_local! {
    static LEASE: Cell<Lease> = const { Cell::new(Lease { ring: 0, seq: 0, extra: 0, next: 0, end: 0 }) };
}

static NEXT_RING_ID: AtomicU64 = AtomicU64::new(1);

impl Ring {
    /// A ring over `backing`, continuing where `recovered` says its records end.
    pub fn new(backing: Backing, recovered: &Recovery) -> Ring {
        let (base, bytes) = match &backing {
            Backing::File { map, .. } => (
                // SAFETY: the mapping is at least HEADER_BYTES long (checked by the opener).
                unsafe { map.as_ptr().add(layout::HEADER_BYTES) }.cast::<AtomicU64>(),
                map.len() - layout::HEADER_BYTES,
            ),
            Backing::Heap(words) => (words.as_ptr(), words.len() * 8),
        };
        let slots = bytes / SLOT;
        let next_seq = recovered.next_seq.max(1);
        let cursor = recovered.cursor;
        Ring {
            id: NEXT_RING_ID.fetch_add(1, Ordering::Relaxed),
            base,
            slots,
            n_chunks: (slots / CHUNK_SLOTS) as u64,
            lease_span: layout::lease_span(slots * SLOT),
            extra_chunks: Padded(AtomicU64::new(0)),
            chunk_cursor: Padded(AtomicU64::new(cursor)),
            next_seq: Padded(AtomicU64::new(next_seq)),
            pretouched: AtomicU64::new(cursor),
            pretouch_seen: AtomicU64::new(u64::MAX),
            populate_refused: AtomicBool::new(false),
            backing,
        }
    }

    /// A heap ring of about `bytes`.
    ///
    /// The memory is reserved fallibly: when `bytes` cannot be had (the very memory
    /// pressure that may have sent the recorder to the heap), the ring is halved until it
    /// can, down to the smallest ring; a smaller ring keeps fewer records, an abort would
    /// keep none and end the app.
    pub fn heap(bytes: usize) -> Ring {
        let mut want = layout::ring_bytes_for(bytes);
        let mem = loop {
            let words = want / 8;
            let mut v: Vec<AtomicU64> = Vec::new();
            if v.try_reserve_exact(words).is_ok() {
                v.extend((0..words).map(|_| AtomicU64::new(0)));
                break v.into_boxed_slice();
            }
            let smaller = layout::ring_bytes_for(want / 2);
            if smaller >= want {
                // The smallest ring could not be had either: the last try, infallible.
                break (0..words).map(|_| AtomicU64::new(0)).collect();
            }
            want = smaller;
        };
        Ring::new(Backing::Heap(mem), &Recovery::default())
    }

    /// Whether the ring file was cut short under the mapping and the memory replaced by
    /// anonymous pages (see `fault`): records no longer reach the file.
    pub fn file_lost(&self) -> bool {
        matches!(&self.backing, Backing::File { guard, .. } if guard.lost())
    }

    /// Bytes of slot memory.
    pub fn capacity_bytes(&self) -> usize {
        self.slots * SLOT
    }

    /// The sequence number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq.0.load(Ordering::Relaxed)
    }

    /// Makes the next sequence number at least `seq + 1`.
    pub fn continue_after(&self, seq: u64) {
        self.next_seq.0.fetch_max(seq + 1, Ordering::Relaxed);
    }

    /// Re-appends raw records (salvaged or carried over) byte for byte, with their own
    /// sequence numbers and times; later records continue after them.
    pub fn append_raw(&self, records: &[(u64, Vec<u8>)]) {
        for (seq, raw) in records {
            self.continue_after(*seq);
            self.commit(raw, false);
        }
    }

    /// Takes the next sequence number.
    #[inline]
    pub fn take_seq(&self) -> u64 {
        self.next_seq.0.fetch_add(1, Ordering::Relaxed)
    }

    /// Leases `k` contiguous chunks; returns the absolute chunk number of the first.
    fn lease_chunks(&self, k: u64) -> u64 {
        let mut cur = self.chunk_cursor.0.load(Ordering::Relaxed);
        loop {
            let phys = cur % self.n_chunks;
            // A multi-chunk record never wraps: skip to the start, leaving the tail
            // chunks' older records in place.
            let start = if phys + k > self.n_chunks {
                cur + (self.n_chunks - phys)
            } else {
                cur
            };
            match self.chunk_cursor.0.compare_exchange_weak(
                cur,
                start + k,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let advance = start + k - cur;
                    if advance > 1 {
                        self.extra_chunks
                            .0
                            .fetch_add(advance - 1, Ordering::Relaxed);
                    }
                    // Chunks skipped at the end of the ring keep an older lap's records:
                    // clear their first slot so no reader takes those as current.
                    // Nobody holds a fresh lease on them (their last lease is a lap old).
                    for skipped in cur..start {
                        self.slot_head(self.chunk_first_slot(skipped))
                            .store(0, Ordering::Relaxed);
                    }
                    return start;
                }
                Err(now) => cur = now,
            }
        }
    }

    /// The head word of a slot.
    fn slot_head(&self, slot: usize) -> &AtomicU64 {
        debug_assert!(slot < self.slots);
        // SAFETY: slot < self.slots (callers pass slots inside the ring), and `base` is
        // valid for `slots * SLOT` bytes and 8-byte aligned.
        unsafe { &*self.base.add(slot * SLOT / 8) }
    }

    fn chunk_first_slot(&self, abs_chunk: u64) -> usize {
        (abs_chunk % self.n_chunks) as usize * CHUNK_SLOTS
    }

    /// Reserves `n` slots for the calling thread, from its lease when possible.
    ///
    /// A lease goes stale once the ring may have lapped it. Each record takes at most
    /// one new chunk, except multi-chunk ones, which count their extra chunks in
    /// `extra_chunks`; so while records-since-lease plus extra-chunks-since-lease stay
    /// below `n_chunks`, the leased chunk cannot have been handed out again. The lease is
    /// dropped well before that, at `lease_span` (half the ring). Judging by
    /// the sequence number, which the writer has anyway, and a counter written only by
    /// rare big records keeps the hot path off the busy shared chunk cursor.
    #[inline]
    fn reserve(&self, n: usize, seq: u64) -> usize {
        if n > CHUNK_SLOTS {
            return self.reserve_dedicated(n);
        }
        // `try_with`: a record written from a thread-local destructor must not panic.
        LEASE
            .try_with(|cell| {
                let mut lease = cell.get();
                let extra = self.extra_chunks.0.load(Ordering::Relaxed);
                let used = seq
                    .wrapping_sub(lease.seq)
                    .saturating_add(extra.wrapping_sub(lease.extra));
                let fresh =
                    lease.ring == self.id && used < self.lease_span && lease.end - lease.next >= n;
                if !fresh {
                    let abs = self.lease_chunks(1);
                    let first = self.chunk_first_slot(abs);
                    lease = Lease {
                        ring: self.id,
                        seq,
                        extra,
                        next: first,
                        end: first + CHUNK_SLOTS,
                    };
                }
                let start = lease.next;
                lease.next += n;
                cell.set(lease);
                start
            })
            .unwrap_or_else(|_| self.reserve_dedicated(n))
    }

    /// Reserves `n` slots in chunks of their own, without touching any thread state:
    /// safe from a signal handler and for records larger than a chunk.
    fn reserve_dedicated(&self, n: usize) -> usize {
        let k = n.div_ceil(CHUNK_SLOTS) as u64;
        let abs = self.lease_chunks(k);
        self.chunk_first_slot(abs)
    }

    /// Writes an encoded record (commit word still zero) and commits it.
    #[inline]
    pub fn commit(&self, record: &[u8], dedicated: bool) {
        let n = layout::slots_for(record.len());
        let slot = if dedicated {
            self.reserve_dedicated(n)
        } else {
            self.reserve(n, layout::seq_of(record))
        };
        // SAFETY: `slot + n <= self.slots` because leases never cross the end of the
        // ring; `base` is valid for `slots * SLOT` bytes and 8-byte aligned.
        let words = unsafe { self.base.add(slot * SLOT / 8) };
        let word = |i: usize| -> &AtomicU64 {
            // SAFETY: i < n * SLOT / 8, inside the reserved slots (see above).
            unsafe { &*words.add(i) }
        };
        // Invalidate whatever record head was here before writing its body over (a
        // re-appended raw record arrives with its old commit word: it is recomputed).
        word(0).store(0, Ordering::Relaxed);
        fence(Ordering::Release);
        // Store and checksum in one pass over the words.
        let body = &record[layout::head::LEN.start..];
        let mut sum = layout::Checksum::new(body.len());
        let (full, tail) = layout::words(body);
        let mut i = 1;
        for w in full {
            sum.word(w);
            word(i).store(w, Ordering::Relaxed);
            i += 1;
        }
        if !body.len().is_multiple_of(8) {
            word(i).store(tail, Ordering::Relaxed);
        }
        word(0).store(layout::commit_word_for(sum.finish(tail)), Ordering::Release);
    }

    /// Makes the file pages the next `ahead` bytes of records will land in present and
    /// writable, so a writer does not take the page fault (on ext4 or f2fs a write to a
    /// clean shared page runs the filesystem's `page_mkwrite`: microseconds, with a
    /// journal lock). Pages beyond what was prepared before are added; the nearest
    /// `NEAR_CHUNKS` are prepared again each time, because writeback may have cleaned
    /// them since (Android expires dirty pages after 2 s). Nothing is done when nothing
    /// was written since the last look, so an idle app never re-dirties its ring.
    /// Returns the bytes prepared. No-op for the heap ring.
    pub fn pretouch(&self, ahead: usize) -> usize {
        /// About a second of records at a tracking loop's rate.
        const NEAR_CHUNKS: u64 = 16;
        let Backing::File { map, .. } = &self.backing else {
            return 0;
        };
        let cursor = self.chunk_cursor.0.load(Ordering::Relaxed);
        if self.pretouch_seen.swap(cursor, Ordering::Relaxed) == cursor {
            return 0;
        }
        let want = cursor + ((ahead / CHUNK_SLOTS / SLOT) as u64).min(self.n_chunks - 1);
        let near = (cursor + NEAR_CHUNKS).min(want);
        let from = self.pretouched.load(Ordering::Relaxed).max(near);
        self.pretouched.store(want.max(from), Ordering::Relaxed);
        self.populate(cursor, near, map) + self.populate(from, want, map)
    }

    /// Prepares absolute chunks `from..to` (wrapping at the end of the ring); returns
    /// the bytes.
    fn populate(&self, from: u64, to: u64, map: &MmapMut) -> usize {
        let chunk_bytes = CHUNK_SLOTS * SLOT;
        let mut abs = from;
        while abs < to {
            // Up to the end of the ring, then from its start.
            let phys = abs % self.n_chunks;
            let run = (to - abs).min(self.n_chunks - phys);
            let offset = layout::HEADER_BYTES + phys as usize * chunk_bytes;
            populate_write(
                map,
                &self.populate_refused,
                self.base,
                offset,
                run as usize * chunk_bytes,
            );
            abs += run;
        }
        to.saturating_sub(from) as usize * chunk_bytes
    }

    /// The absolute number of the next chunk to be leased (the head of the ring).
    pub(crate) fn chunk_cursor(&self) -> u64 {
        self.chunk_cursor.0.load(Ordering::Acquire)
    }

    /// Chunks in the ring.
    pub(crate) fn n_chunks(&self) -> u64 {
        self.n_chunks
    }

    /// How far back a record of the last moment may sit: a thread's lease is dropped
    /// after `lease_span` records plus the extra chunks big records took.
    pub(crate) fn stale_lease_chunks(&self) -> u64 {
        self.lease_span
            .saturating_add(self.extra_chunks.0.load(Ordering::Relaxed))
    }

    /// Appends the bytes of `n` slots from slot `first` (clamped to the ring's end) to
    /// `out`, atomically word by word.
    pub(crate) fn copy_slots(&self, first: usize, n: usize, out: &mut Vec<u8>) {
        let end = first.saturating_add(n).min(self.slots);
        fence(Ordering::Acquire);
        for i in first * SLOT / 8..end * SLOT / 8 {
            // SAFETY: i < slots * SLOT / 8, inside the slot memory.
            let w = unsafe { &*self.base.add(i) }.load(Ordering::Acquire);
            out.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// The first slot of absolute chunk `abs`.
    pub(crate) fn first_slot_of(&self, abs: u64) -> usize {
        self.chunk_first_slot(abs)
    }

    /// Copies slot memory out (atomically word by word) and scans it for records.
    ///
    /// The copy is as large as the ring (megabytes) and taken on telemetry's threads
    /// every upload round: it is reserved fallibly, so that memory pressure costs this
    /// round its records (none found; the next round tries again), never the process
    /// its life (an infallible allocation that fails aborts).
    pub fn scan(&self) -> Vec<Found> {
        let words = self.slots * SLOT / 8;
        let mut bytes = Vec::new();
        if bytes.try_reserve_exact(words * 8).is_err() {
            return Vec::new();
        }
        fence(Ordering::Acquire);
        for i in 0..words {
            // SAFETY: i < words, inside the slot memory.
            let w = unsafe { &*self.base.add(i) }.load(Ordering::Acquire);
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        decode::scan(&bytes)
    }
}

/// The smallest page any supported kernel uses, and the stride used if `sysconf` has
/// no answer: touching more often than once per page is merely redundant.
const MIN_PAGE: usize = 4096;

/// The memory page size the kernel runs with, asked once (`sysconf(_SC_PAGESIZE)`): 4 KiB
/// on most desktops, 16 KiB on Android 15+ devices that opt in and on Apple silicon, up
/// to 64 KiB on some ARM64 servers. Nothing in the ring may assume 4 KiB.
pub(crate) fn page_size() -> usize {
    static PAGE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf has no preconditions.
            let asked = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
            let page = usize::try_from(asked)
                .ok()
                .filter(|p| p.is_power_of_two() && *p >= MIN_PAGE)
                .unwrap_or(MIN_PAGE);
            PAGE.store(page, Ordering::Relaxed);
            page
        }
        page => page,
    }
}

/// Prefaults `len` bytes at `offset` of the mapping for writing: `MADV_POPULATE_WRITE`
/// (Linux 5.14+) does it without touching the data; older kernels (and targets memmap2
/// does not offer it on) get one atomic no-op write per page (`fetch_add(0)` cannot lose
/// a concurrent writer's store).
///
/// Page size: `offset` (the 4 KiB header plus whole 1 KiB chunks) is in general not a
/// multiple of the page, which `madvise` requires of its start on every page size
/// (EINVAL otherwise). memmap2's `advise_range` rounds the start down to its own
/// `sysconf(_SC_PAGESIZE)` page and lengthens the range to match, and the kernel rounds
/// the end up: the call covers every page the range touches, and only pages of this
/// mapping (the mapping starts on a page boundary and its length rounds up to one).
/// An EINVAL could still only send us to `touch_pages`, which is correct, merely slower.
fn populate_write(
    map: &MmapMut,
    refused: &AtomicBool,
    base: *const AtomicU64,
    offset: usize,
    len: usize,
) {
    #[cfg(target_os = "linux")]
    if !refused.load(Ordering::Relaxed) {
        match map.advise_range(memmap2::Advice::PopulateWrite, offset, len) {
            Ok(()) => return,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                refused.store(true, Ordering::Relaxed)
            }
            // EFAULT: the file is shorter than the mapping (someone truncated it); a
            // write there would raise SIGBUS. ENOMEM, EINTR: not now. Either way this
            // look prepares nothing, and the next one asks again.
            Err(_) => return,
        }
    }
    let _ = (map, refused);
    touch_pages(base, offset, len, page_size());
}

/// One atomic no-op write per `page` bytes of the range (`offset` counted from the file
/// start), on the last word of each page's part of it; returns the words touched.
///
/// `page` must be the kernel's page size (or a power of two dividing it, which only
/// touches more often): file offsets map to memory offsets from the mapping's start, a
/// page boundary, so a multiple of `page` in the file is a page boundary in memory and
/// each step lands in the next page. A stride larger than the real page would skip pages,
/// hence `page_size()`, never a constant.
fn touch_pages(base: *const AtomicU64, offset: usize, len: usize, page: usize) -> usize {
    let end = offset + len;
    let mut at = offset;
    let mut touched = 0;
    while at < end {
        let page_end = (at / page + 1) * page;
        // The last word of the page's part of the range: the tail of a slot (pages and
        // the header are multiples of SLOT), never a record's commit word. At least one
        // word past `at`: both are multiples of 8 and page_end > at.
        let word = (page_end.min(end) - 8 - layout::HEADER_BYTES) / 8;
        // SAFETY: `word` indexes slot memory: the range lies inside the ring (caller),
        // and the word lies in [at, end).
        unsafe { &*base.add(word) }.fetch_add(0, Ordering::Relaxed);
        touched += 1;
        at = page_end;
    }
    touched
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::file;

    fn file_ring(dir: &std::path::Path) -> Ring {
        let opened = file::open(&dir.join("ring"), 256 * 1024).expect("open ring file");
        Ring::new(opened.backing, &opened.recovered)
    }

    fn write(ring: &Ring, n: usize) {
        for _ in 0..n {
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); super::super::SMALL_BUF];
            let mut enc = crate::recorder::encode::Encoder::new(&mut buf);
            enc.str(b"test", false);
            enc.field(
                "message",
                crate::recorder::FieldValue::Str(&"x".repeat(100)),
            );
            let seq = ring.take_seq();
            ring.commit(enc.finish(seq, 0, layout::kind::LOG, 2), false);
        }
    }

    /// The slot memory, copied out.
    fn area(ring: &Ring) -> Vec<u8> {
        (0..ring.slots * SLOT / 8)
            // SAFETY: i < words, inside the slot memory.
            .flat_map(|i| unsafe { &*ring.base.add(i) }.load(Ordering::Acquire).to_le_bytes())
            .collect()
    }

    fn assert_recovers_as_the_full_scan(area: &[u8]) {
        let fast = decode::recover(area);
        let exact = Recovery::of(&decode::scan(area));
        assert_eq!(
            (fast.count, fast.next_seq, fast.cursor),
            (exact.count, exact.next_seq, exact.cursor)
        );
        let seqs = |r: &Recovery| r.history.iter().map(|r| r.seq).collect::<Vec<_>>();
        assert_eq!(seqs(&fast), seqs(&exact));
    }

    #[test]
    fn recovery_from_heads_finds_what_the_full_scan_finds_torn_records_included() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = file_ring(dir.path());
        write(&ring, 3_000); // several laps
        for i in 0..20 {
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); super::super::SMALL_BUF];
            let mut enc = crate::recorder::encode::Encoder::new(&mut buf);
            enc.u8(i % 2);
            enc.str(b"0123456789abcdef", false);
            enc.str(b"1.0.0", true);
            let seq = ring.take_seq();
            ring.commit(enc.finish(seq, 0, layout::kind::SESSION, 2), false);
            write(&ring, 7);
        }
        let mut bytes = area(&ring);
        let clean = decode::recover(&bytes);
        assert_eq!(clean.history.len(), 20);
        assert_eq!(clean.next_seq, ring.next_seq());
        assert_recovers_as_the_full_scan(&bytes);
        // A record whose body no longer matches its checksum (a torn write): the exact
        // walk takes over, and agrees.
        let victims: Vec<usize> = decode::scan(&bytes).iter().map(|f| f.slot).step_by(97).collect();
        for slot in victims {
            bytes[slot * SLOT + 40] ^= 0x5a;
            assert_recovers_as_the_full_scan(&bytes);
        }
        assert_recovers_as_the_full_scan(&vec![0u8; 64 * 1024]);
    }

    #[test]
    fn pretouch_prepares_new_pages_ahead_and_the_nearest_again_only_after_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = file_ring(dir.path());
        assert_eq!(ring.pretouch(64 * 1024), 64 * 1024);
        assert_eq!(
            ring.pretouch(64 * 1024),
            0,
            "nothing written: nothing to do"
        );
        write(&ring, 40); // 40 records of 3 slots: 8 chunks with one lease per chunk
        let moved = ring.chunk_cursor.0.load(Ordering::Relaxed) as usize;
        assert!(moved > 0);
        // The nearest 16 chunks again (writeback may have cleaned them), and the new ones.
        assert_eq!(ring.pretouch(64 * 1024), (16 + moved) * CHUNK_SLOTS * SLOT);
        assert_eq!(ring.pretouch(64 * 1024), 0);
        assert_eq!(Ring::heap(64 * 1024).pretouch(64 * 1024), 0);
    }

    #[test]
    fn pretouching_around_the_wrap_and_by_hand_keeps_every_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = file_ring(dir.path());
        // Past the end of the ring, so the prepared range wraps to its start.
        write(&ring, 5_000);
        let before = ring.scan();
        assert!(before.len() > 1_000);
        assert!(ring.pretouch(200 * 1024) > 0);
        // The old-kernel fallback over every page, records included.
        touch_pages(ring.base, layout::HEADER_BYTES, ring.capacity_bytes(), page_size());
        let after = ring.scan();
        assert_eq!(before.len(), after.len());
        assert!(before
            .iter()
            .zip(&after)
            .all(|(a, b)| a.record.seq == b.record.seq && a.slot == b.slot));
    }

    #[test]
    fn pages_are_those_of_the_kernel_and_touched_once_each_at_any_page_size() {
        // SAFETY: sysconf has no preconditions.
        let asked = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        assert_eq!(page_size() as libc::c_long, asked, "the kernel's page, not 4 KiB");
        assert!(page_size().is_power_of_two() && page_size() >= MIN_PAGE);
        // scripts/test-arm64 runs this under qemu-aarch64 at 16 KiB pages and says so
        // here, so that a qemu ignoring its `-p` cannot pass for a 16 KiB run.
        if let Some(want) = std::env::var_os("LOCUS_TEST_PAGE_SIZE") {
            assert_eq!(Some(page_size()), want.to_str().and_then(|w| w.parse().ok()));
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let ring = file_ring(dir.path());
        write(&ring, 5_000);
        let before = ring.scan();
        let (offset, len) = (layout::HEADER_BYTES, ring.capacity_bytes());
        for page in [4096, 16 * 1024, 64 * 1024] {
            // Every page the slots overlap, the one the header shares included when pages
            // are larger than the header (the first slot then starts mid-page).
            let pages = (offset + len).div_ceil(page) - offset / page;
            assert_eq!(touch_pages(ring.base, offset, len, page), pages, "page {page}");
            assert_eq!(touch_pages(ring.base, offset + 1024, 1024, page), 1);
        }
        let after = ring.scan();
        assert_eq!(before.len(), after.len());
        assert!(before
            .iter()
            .zip(&after)
            .all(|(a, b)| a.record.seq == b.record.seq && a.slot == b.slot));
    }

    #[test]
    fn a_ring_file_ending_mid_page_keeps_its_last_slots_across_a_reopen() {
        // 4 KiB header + 65 KiB of slots = 69 KiB: a multiple of no page size (4, 16 or
        // 64 KiB), so the mapping's last page runs past the end of the file.
        let ring_bytes = 65 * 1024;
        assert_ne!((layout::HEADER_BYTES + ring_bytes) % page_size(), 0);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ring");
        let opened = file::open(&path, ring_bytes).expect("open ring file");
        let ring = Ring::new(opened.backing, &opened.recovered);
        assert_eq!(ring.capacity_bytes(), ring_bytes);
        assert!(ring.pretouch(ring_bytes) > 0);
        let last_page = touch_pages(ring.base, layout::HEADER_BYTES, ring_bytes, page_size());
        assert!(last_page > 0);
        write(&ring, 600); // about two laps of 3-slot records
        let before = ring.scan();
        let last_chunk = (ring.n_chunks() as usize - 1) * CHUNK_SLOTS;
        assert!(before.iter().any(|f| f.slot >= last_chunk), "the last chunk was written");
        let next_seq = ring.next_seq();
        drop(ring);
        let len = std::fs::metadata(&path).expect("stat").len();
        assert_eq!(len, (layout::HEADER_BYTES + ring_bytes) as u64);
        let opened = file::open(&path, ring_bytes).expect("reopen ring file");
        assert!(opened.moved_aside.is_none(), "the file was usable as it was");
        let ring = Ring::new(opened.backing, &opened.recovered);
        assert_eq!(ring.next_seq(), next_seq);
        let after = ring.scan();
        let seqs = |f: &[Found]| f.iter().map(|f| (f.slot, f.record.seq)).collect::<Vec<_>>();
        assert_eq!(seqs(&before), seqs(&after));
    }
}

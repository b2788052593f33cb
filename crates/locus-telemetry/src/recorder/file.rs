//! Opening the ring file: only a regular file of our own, reserved, locked, bounded.
//!
//! - **Never through a link, never a special file.** The ring is opened with
//!   `O_NOFOLLOW` (a symlink, even a dangling one, is refused: nothing outside the data
//!   dir is ever created or overwritten) and must be a regular file (a FIFO, device or
//!   directory is refused with a reason). `O_NONBLOCK` makes an open that would wait for
//!   another process's file lease fail at once instead of stalling start.
//! - **Blocks reserved on every open** (`posix_fallocate`), not only at creation:
//!   writing to a mapped page of a sparse file on a full disk raises SIGBUS, and a ring
//!   restored by a sparse-aware copy is sparse. If the blocks cannot be reserved the
//!   file is not mapped and the recorder runs on the heap, carrying the file's records
//!   along. A file-size limit is checked before growing the file (SIGXFSZ).
//! - **Bounded.** Readers and salvage read at most the header plus the ring size the
//!   header declares (itself at most [`layout::MAX_RING_BYTES`]), whatever the file's
//!   size, and the copy kept aside is just as bounded.
//! - A file whose header or size is wrong is copied aside (bounded, never through a
//!   link), its valid records are salvaged and re-appended to a fresh ring.
//!
//! The mapping is registered with [`super::fault`], so a file truncated under it later
//! costs the ring its file, never the app its life.

use super::decode::{self, Found, Recovery};
use super::fault;
use super::layout::{self, FileHeader, HEADER_BYTES};
use super::ring::Backing;
use super::RecorderError;
use memmap2::MmapMut;
use std::fs::{File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Raw records (head and payload as stored) with their sequence numbers, oldest first.
pub(crate) type RawRecords = Vec<(u64, Vec<u8>)>;

/// A ring file ready to use.
pub(crate) struct Opened {
    pub backing: Backing,
    /// Where the records found in place end (the writer continues after them).
    pub recovered: Recovery,
    /// Records salvaged from an unusable file, to re-append unchanged.
    pub salvaged: RawRecords,
    /// Where an unusable file's bytes were copied, if it happened.
    pub moved_aside: Option<PathBuf>,
}

/// Why the file cannot be used, and the records it held that can still be carried into
/// a heap ring (empty when it belongs to another process, or none could be read).
#[derive(Debug)]
pub(crate) struct OpenFailure {
    pub error: RecorderError,
    pub carry: RawRecords,
}

impl From<RecorderError> for OpenFailure {
    fn from(error: RecorderError) -> OpenFailure {
        OpenFailure {
            error,
            carry: Vec::new(),
        }
    }
}

fn io<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(std::io::Error) -> RecorderError + 'a {
    move |source| RecorderError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// How long `open` waits for a lock held by a recorder that is going away.
const LOCK_PATIENCE: Duration = Duration::from_millis(100);

/// Opens `path` through [`crate::door`]: a regular file of our own, never through a
/// link, never blocking, created 0600.
fn open_regular(path: &Path, write: bool) -> Result<File, RecorderError> {
    let opened = if write {
        crate::door::open_or_create(path)
    } else {
        crate::door::open_read(path)
    };
    opened.map_err(|e| match (crate::door::refusal(&e), e.raw_os_error()) {
        (Some(crate::door::Refusal::NotRegular { found }), _) => RecorderError::NotAFile {
            path: path.to_path_buf(),
            found,
        },
        (_, Some(libc::EWOULDBLOCK)) => RecorderError::Leased {
            path: path.to_path_buf(),
        },
        _ => io(path, "open")(e),
    })
}

/// Reads the file's first bytes, at most the header plus the ring the header declares
/// (or `fallback_ring` past the header when it declares nothing valid), never past
/// [`layout::MAX_RING_BYTES`]. Holes read as zeros; nothing is mapped.
fn read_bounded(file: &File, path: &Path, fallback_ring: usize) -> Result<Vec<u8>, RecorderError> {
    let mut head = [0u8; 32];
    let n = file
        .read_at_most(&mut head)
        .map_err(io(path, "read header"))?;
    let ring = FileHeader::decode(&head[..n])
        .map_or(fallback_ring, |h| h.ring_bytes as usize)
        .min(layout::MAX_RING_BYTES);
    let limit = (HEADER_BYTES + ring) as u64;
    let mut bytes = Vec::new();
    let mut reader = file;
    reader.seek(SeekFrom::Start(0)).map_err(io(path, "seek"))?;
    reader
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(io(path, "read"))?;
    Ok(bytes)
}

trait ReadAtMost {
    fn read_at_most(&self, buf: &mut [u8]) -> std::io::Result<usize>;
}

impl ReadAtMost for File {
    /// Fills `buf` from offset 0 as far as the file goes.
    fn read_at_most(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let mut n = 0;
        while n < buf.len() {
            match self.read_at(&mut buf[n..], n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// The valid records in ring file bytes, raw, oldest first, one per sequence number.
fn salvage(bytes: &[u8]) -> RawRecords {
    let area = bytes.get(HEADER_BYTES..).unwrap_or(&[]);
    let mut found = decode::scan(area);
    found.sort_by_key(|f| f.record.seq);
    found.dedup_by_key(|f| f.record.seq);
    found
        .iter()
        .filter_map(|f| Some((f.record.seq, decode::raw_at(area, f.slot)?.to_vec())))
        .collect()
}

/// Opens (creating if needed) the ring file at `path` with `ring_bytes` of slots.
pub(crate) fn open(path: &Path, ring_bytes: usize) -> Result<Opened, OpenFailure> {
    if let Some(dir) = path.parent() {
        crate::door::create_dir_all(dir).map_err(io(dir, "create directory"))?;
    }
    let mut file = open_regular(path, true)?;
    lock(&file, path)?;
    let want = (HEADER_BYTES + ring_bytes) as u64;
    let len = file.metadata().map_err(io(path, "stat"))?.len();
    let usable = len == want && {
        let mut head = [0u8; 32];
        let n = file
            .read_at_most(&mut head)
            .map_err(io(path, "read header"))?;
        FileHeader::decode(&head[..n]).is_some_and(|h| h.ring_bytes == ring_bytes as u64)
    };
    let (salvaged, moved_aside) = if usable {
        if let Err(error) = reserve(&file, path, want) {
            // Sparse on a full disk: mapping it could raise SIGBUS. Keep its records.
            let carry =
                read_bounded(&file, path, ring_bytes).map_or_else(|_| Vec::new(), |b| salvage(&b));
            return Err(OpenFailure { error, carry });
        }
        (Vec::new(), None)
    } else {
        start_afresh(&mut file, path, len, ring_bytes)?
    };
    let (guard, map) = map_guarded(&file, path)?;
    let recovered = if usable {
        decode::recover(&map[HEADER_BYTES..])
    } else {
        Recovery::default()
    };
    Ok(Opened {
        backing: Backing::File {
            guard,
            map,
            _file: file,
        },
        recovered,
        salvaged,
        moved_aside,
    })
}

/// Takes the writer's lock. A recorder of this process that was just dropped may still
/// be releasing it from its keeper thread (microseconds): give it a moment before calling
/// the file someone else's.
fn lock(file: &File, path: &Path) -> Result<(), RecorderError> {
    let mut waited = Duration::ZERO;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(TryLockError::WouldBlock) if waited < LOCK_PATIENCE => {
                std::thread::sleep(Duration::from_millis(2));
                waited += Duration::from_millis(2);
            }
            Err(TryLockError::WouldBlock) => {
                return Err(RecorderError::Locked {
                    path: path.to_path_buf(),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io(path, "lock")(e)),
        }
    }
}

/// Makes `file` (of `len` bytes, not a usable ring) a fresh ring. A non-empty file is
/// damaged, truncated or of another geometry: its records are salvaged and its bytes
/// kept aside first. Returns the salvaged records and where the bytes went.
fn start_afresh(
    file: &mut File,
    path: &Path,
    len: u64,
    ring_bytes: usize,
) -> Result<(RawRecords, Option<PathBuf>), OpenFailure> {
    let (salvaged, moved_aside) = if len > 0 {
        let bytes = read_bounded(file, path, ring_bytes)?;
        let salvaged = salvage(&bytes);
        match write_aside(path, &bytes) {
            Ok(aside) => (salvaged, Some(aside)),
            Err(error) => {
                return Err(OpenFailure {
                    error,
                    carry: salvaged,
                })
            }
        }
    } else {
        (Vec::new(), None)
    };
    if moved_aside.is_some() {
        file.set_len(0).map_err(io(path, "truncate"))?;
    }
    if let Err(error) = create(file, path, ring_bytes) {
        // Nothing of value is left in it (its bytes, if any, were kept aside): leave no
        // empty ring behind on a full disk.
        let _ = std::fs::remove_file(path);
        return Err(OpenFailure {
            error,
            carry: salvaged,
        });
    }
    Ok((salvaged, moved_aside))
}

/// Maps the locked, reserved ring file and registers the mapping with [`fault`].
fn map_guarded(file: &File, path: &Path) -> Result<(fault::Guard, MmapMut), RecorderError> {
    // SAFETY: the file is locked for our exclusive use as a writer; other processes only
    // read it, and every access through the mapping is an atomic word access. A file
    // shortened under the mapping by someone else is survived (see `fault`).
    // Page size: the whole file is mapped from offset 0, so the offset is page-aligned on
    // every kernel. Its length (4 KiB header + whole 1 KiB chunks) need not be a multiple
    // of the page: the kernel maps the last page whole, and the ring only ever touches
    // bytes before `map.len()` (the file's length), all of them reserved on disk; the
    // tail of that last page past the end of the file is never read or written.
    let map = unsafe { MmapMut::map_mut(file) }.map_err(io(path, "map"))?;
    if map.len() < HEADER_BYTES + layout::MIN_RING_BYTES {
        return Err(RecorderError::Geometry {
            path: path.to_path_buf(),
        });
    }
    let guard =
        fault::register(map.as_ptr(), map.len()).ok_or_else(|| RecorderError::Unguarded {
            path: path.to_path_buf(),
        })?;
    Ok((guard, map))
}

/// Copies a damaged file's (bounded) bytes to a new file beside it, never through a link
/// and never over an existing file.
fn write_aside(path: &Path, bytes: &[u8]) -> Result<PathBuf, RecorderError> {
    let base = aside_path(path);
    let mut last = None;
    for n in 0..16u32 {
        let aside = if n == 0 {
            base.clone()
        } else {
            let mut name = base.clone().into_os_string();
            name.push(format!("-{n}"));
            PathBuf::from(name)
        };
        match crate::door::create_new(&aside) {
            Ok(f) => {
                if let Err(e) = crate::door::Bounded::new(f).write_all(bytes) {
                    let _ = std::fs::remove_file(&aside);
                    return Err(io(&aside, "copy aside")(e));
                }
                return Ok(aside);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io(&aside, "copy aside")(e)),
        }
    }
    Err(io(&base, "copy aside")(last.unwrap_or_else(|| {
        std::io::Error::from(std::io::ErrorKind::AlreadyExists)
    })))
}

/// Reserves the blocks of the whole file (a no-op for blocks already allocated).
fn reserve(file: &File, path: &Path, total: u64) -> Result<(), RecorderError> {
    check_size_limit(path, total)?;
    // SAFETY: plain FFI call on a valid, open descriptor.
    let rc = unsafe {
        use std::os::fd::AsRawFd;
        libc::posix_fallocate(file.as_raw_fd(), 0, total as libc::off_t)
    };
    if rc != 0 {
        return Err(io(path, "reserve disk space for")(
            std::io::Error::from_raw_os_error(rc),
        ));
    }
    Ok(())
}

fn aside_path(path: &Path) -> PathBuf {
    let secs = crate::clock::now().timestamp();
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{secs}"));
    path.with_file_name(name)
}

fn create(file: &mut File, path: &Path, ring_bytes: usize) -> Result<(), RecorderError> {
    if let Err(e) = reserve(file, path, (HEADER_BYTES + ring_bytes) as u64) {
        let _ = file.set_len(0);
        return Err(e);
    }
    let header = FileHeader {
        ring_bytes: ring_bytes as u64,
    };
    file.seek(SeekFrom::Start(0)).map_err(io(path, "seek"))?;
    file.write_all(&header.encode())
        .map_err(io(path, "write header"))?;
    Ok(())
}

/// Growing a file past RLIMIT_FSIZE raises SIGXFSZ, which kills by default: refuse first.
fn check_size_limit(path: &Path, bytes: u64) -> Result<(), RecorderError> {
    match crate::door::size_limit() {
        Some(limit) if limit < bytes => Err(RecorderError::FileSizeLimit {
            path: path.to_path_buf(),
            limit,
        }),
        _ => Ok(()),
    }
}

/// Reads a ring file without locking or changing it (the Debug screen, `--follow`):
/// a regular file only, never through a link, never blocking, at most the header plus
/// the declared ring (bounded by [`layout::MAX_RING_BYTES`]), through `read`, never a
/// mapping, so a short or sparse file cannot fault.
pub(crate) fn read_only(path: &Path) -> Result<(Vec<Found>, usize), RecorderError> {
    let file = open_regular(path, false)?;
    let bytes = read_bounded(&file, path, layout::MAX_RING_BYTES)?;
    if FileHeader::decode(&bytes).is_none() && bytes.len() < HEADER_BYTES {
        return Err(RecorderError::Geometry {
            path: path.to_path_buf(),
        });
    }
    let area = bytes.get(HEADER_BYTES..).unwrap_or(&[]);
    Ok((decode::scan(area), area.len()))
}

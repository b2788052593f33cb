//! Opening the ring file: create or reuse, lock, reserve disk blocks, map, recover.
//!
//! The blocks are reserved up front (`posix_fallocate`) because writing to a mapped page
//! of a sparse file on a full disk raises SIGBUS — the one way a mapped ring could kill
//! the app. A file-size limit is checked before growing the file for the same reason
//! (SIGXFSZ). A file whose header or size is wrong is copied aside, its valid records
//! are salvaged and re-appended to a fresh ring: nothing readable is lost.

use super::decode::{self, Found};
use super::layout::{self, FileHeader, HEADER_BYTES};
use super::ring::Backing;
use super::RecorderError;
use memmap2::MmapMut;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A ring file ready to use.
pub(crate) struct Opened {
    pub backing: Backing,
    /// Records found in place (the writer continues after them).
    pub recovered: Vec<Found>,
    /// Records salvaged from an unusable file, as raw bytes with their sequence numbers,
    /// oldest first, to re-append unchanged.
    pub salvaged: Vec<(u64, Vec<u8>)>,
    /// Where an unusable file's bytes were copied, if it happened.
    pub moved_aside: Option<PathBuf>,
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

/// Opens (creating if needed) the ring file at `path` with `ring_bytes` of slots.
pub(crate) fn open(path: &Path, ring_bytes: usize) -> Result<Opened, RecorderError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir, "create directory"))?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io(path, "open"))?;
    // A recorder of this process that was just dropped may still be releasing the lock
    // from its keeper thread (microseconds): give it a moment before calling the file
    // someone else's.
    let mut waited = Duration::ZERO;
    loop {
        match file.try_lock() {
            Ok(()) => break,
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
    let want = (HEADER_BYTES + ring_bytes) as u64;
    let len = file.metadata().map_err(io(path, "stat"))?.len();

    let mut salvaged = Vec::new();
    let mut moved_aside = None;
    let mut usable = false;
    if len == want {
        let mut head = [0u8; 32];
        file.read_exact(&mut head)
            .map_err(io(path, "read header"))?;
        usable = FileHeader::decode(&head).is_some_and(|h| h.ring_bytes == ring_bytes as u64);
    }
    if !usable && len > 0 {
        // Wrong size, damaged header or another geometry: keep the bytes, salvage records.
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(io(path, "seek"))?;
        file.read_to_end(&mut bytes).map_err(io(path, "read"))?;
        let area = bytes.get(HEADER_BYTES..).unwrap_or(&[]);
        let mut found = decode::scan(area);
        found.sort_by_key(|f| f.record.seq);
        found.dedup_by_key(|f| f.record.seq);
        salvaged = found
            .iter()
            .filter_map(|f| {
                let start = f.slot * layout::SLOT;
                let len = u32::from_le_bytes(area.get(start + 8..start + 12)?.try_into().ok()?);
                let raw = area.get(start..start + layout::RECORD_HEAD + len as usize)?;
                Some((f.record.seq, raw.to_vec()))
            })
            .collect();
        let aside = aside_path(path);
        std::fs::write(&aside, &bytes).map_err(io(&aside, "copy aside"))?;
        moved_aside = Some(aside);
        file.set_len(0).map_err(io(path, "truncate"))?;
    }
    if !usable {
        create(&mut file, path, ring_bytes)?;
    }
    // SAFETY: the file is locked for our exclusive use as a writer; other processes only
    // read it, and every access through the mapping is an atomic word access.
    let map = unsafe { MmapMut::map_mut(&file) }.map_err(io(path, "map"))?;
    if map.len() < HEADER_BYTES + layout::MIN_RING_BYTES {
        return Err(RecorderError::Geometry {
            path: path.to_path_buf(),
        });
    }
    let recovered = if usable {
        decode::scan(&map[HEADER_BYTES..])
    } else {
        Vec::new()
    };
    Ok(Opened {
        backing: Backing::File { map, _file: file },
        recovered,
        salvaged,
        moved_aside,
    })
}

fn aside_path(path: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{secs}"));
    path.with_file_name(name)
}

fn create(file: &mut File, path: &Path, ring_bytes: usize) -> Result<(), RecorderError> {
    let total = HEADER_BYTES + ring_bytes;
    check_size_limit(path, total as u64)?;
    // SAFETY: plain FFI call on a valid, open descriptor.
    let rc = unsafe {
        use std::os::fd::AsRawFd;
        libc::posix_fallocate(file.as_raw_fd(), 0, total as libc::off_t)
    };
    if rc != 0 {
        let _ = file.set_len(0);
        return Err(io(path, "reserve disk space")(
            std::io::Error::from_raw_os_error(rc),
        ));
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
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) };
    if rc == 0 && lim.rlim_cur != libc::RLIM_INFINITY && lim.rlim_cur < bytes {
        return Err(RecorderError::FileSizeLimit {
            path: path.to_path_buf(),
            limit: lim.rlim_cur,
        });
    }
    Ok(())
}

/// Reads a ring file without locking or changing it (the Debug screen, `--follow`).
pub(crate) fn read_only(path: &Path) -> Result<Vec<Found>, RecorderError> {
    let bytes = std::fs::read(path).map_err(io(path, "read"))?;
    if FileHeader::decode(&bytes).is_none() && bytes.len() < HEADER_BYTES {
        return Err(RecorderError::Geometry {
            path: path.to_path_buf(),
        });
    }
    Ok(decode::scan(bytes.get(HEADER_BYTES..).unwrap_or(&[])))
}

//! Data directories that go wrong: one that cannot be created (its parent is a regular
//! file — works even as root, who ignores permission bits), a tiny or read-only tmpfs
//! (needs `CAP_SYS_ADMIN`; use it inside [`super::child`]'s private mount namespace so
//! nothing leaks into the host), a disk filled to the last byte, and files damaged on
//! purpose (the ring, the breaker state).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A data dir that can never be created: `<base>/not-a-dir/data`, where `not-a-dir` is a
/// regular file (creating it fails with ENOTDIR, also for root).
pub fn data_dir_under_regular_file(base: &Path) -> Result<PathBuf, String> {
    let file = base.join("not-a-dir");
    std::fs::write(&file, b"a regular file where a directory should be\n")
        .map_err(|e| format!("cannot create {}: {e}", file.display()))?;
    Ok(file.join("data"))
}

/// A mounted tmpfs, unmounted (lazily) when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    path: PathBuf,
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    match cmd.output() {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(format!(
            "`{shown}` failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run `{shown}`: {e}")),
    }
}

impl Tmpfs {
    /// Mounts a tmpfs of `size_bytes` at `path` (created if missing). Needs root with
    /// `CAP_SYS_ADMIN`; call it in a private mount namespace
    /// ([`super::child::ChildTest::private_mounts`]).
    pub fn mount(path: &Path, size_bytes: u64) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size_bytes},mode=0755"))
            .arg("locus-drill")
            .arg(path))?;
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remounts read-only (EROFS for every write from now on, root included).
    pub fn remount_read_only(&self) -> Result<(), String> {
        run(Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.path))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}

/// Fills the file system holding `dir` to the last byte with a file `dir/filler`, and
/// returns how many bytes it took. Checks that not even one more byte fits.
pub fn fill_disk(dir: &Path) -> Result<u64, String> {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let block = vec![0xA5u8; 4096];
    let mut written = 0u64;
    // Big blocks, then single bytes, until ENOSPC.
    for size in [4096usize, 1] {
        loop {
            match f.write(&block[..size]) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => return Err(format!("filling {}: {e}", path.display())),
            }
        }
    }
    let _ = f.flush();
    match f.write(b"x").and_then(|n| f.sync_all().map(|_| n)) {
        Ok(0) | Err(_) => Ok(written),
        Ok(_) => Err(format!(
            "{} is not full after {written} bytes",
            dir.display()
        )),
    }
}

/// Overwrites `len` bytes at `offset` of `path` with deterministic garbage (not zeros:
/// zeros look like empty slots; garbage must be recognised as damage).
pub fn scribble(path: &Path, offset: u64, len: usize, seed: u64) -> Result<(), String> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut x = seed | 1;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.write_all(&bytes))
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot damage {}: {e}", path.display()))
}

/// Damages the flight recorder's ring file in `data_dir` (`recorder.ring`): garbage over
/// the header (so it is not recognised as a ring) and over `every`-th 4 KiB block.
pub fn corrupt_ring_file(data_dir: &Path, every: u64) -> Result<PathBuf, String> {
    let path = data_dir.join("recorder.ring");
    let len = std::fs::metadata(&path)
        .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
        .len();
    scribble(&path, 0, 64, 1)?;
    let every = every.max(1);
    let mut block = 1;
    while block * 4096 < len {
        if block % every == 0 {
            scribble(&path, block * 4096 + 100, 512, block)?;
        }
        block += 1;
    }
    Ok(path)
}

/// The text of a damaged breaker state file (a JSON document cut off mid-way).
pub const DAMAGED_BREAKER_JSON: &str = "{\"consecutive_failures\": 3, \"open_until\": \"2026-0";

/// Writes [`DAMAGED_BREAKER_JSON`] as the breaker state of destination `name`
/// (`<data_dir>/breaker-<name>.json`).
pub fn corrupt_breaker_file(data_dir: &Path, name: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let path = data_dir.join(format!("breaker-{name}.json"));
    std::fs::write(&path, DAMAGED_BREAKER_JSON)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

/// Resident set size of this process in bytes (from `/proc/self/statm`).
pub fn rss_bytes() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/self/statm")
        .map_err(|e| format!("cannot read /proc/self/statm: {e}"))?;
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("unexpected /proc/self/statm: {text:?}"))?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * u64::try_from(page).unwrap_or(4096))
}

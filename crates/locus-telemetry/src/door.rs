//! The file door: the one way telemetry opens or creates a file.
//!
//! Why one door: telemetry runs inside someone else's app, in a folder a user (or a
//! hostile app with the same uid, or a restored backup) may have filled with anything.
//! Each rule below was once broken at one call site that opened files its own way — a
//! link at a temporary name wrote into the file it pointed to, a FIFO hung start, a
//! file-size limit killed the app with SIGXFSZ, files came out 0644. So every open goes
//! through here, and every rule holds for every file by construction:
//!
//! - **No link is ever followed**, temporary files included (`O_NOFOLLOW`; a temporary
//!   name is unlinked first — unlinking a link removes the link — then created `O_EXCL`).
//! - **Never blocks**: `O_NONBLOCK`, so a FIFO or a file under another process's lease is
//!   an error at once, not a hang.
//! - **Regular files of our own only**: anything else (FIFO, device, directory) is
//!   refused, and so is a file owned by another user. A file of ours that others may read
//!   or write (made by an older version under umask 022) is narrowed to 0600.
//! - **Created 0600.**
//! - **Writes bounded by the file-size limit**: before a write that would pass
//!   `RLIMIT_FSIZE` it fails with `EFBIG` instead of making the kernel send SIGXFSZ
//!   (whose default action kills the app). [`check_size`] does the same for `ftruncate`
//!   and `fallocate`, which the kernel limits alike.
//! - **Nothing is written by a forked child** (see [`crate::fork`]): the files belong to
//!   the parent.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

const FLAGS: libc::c_int = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;

/// What a file type is, in words (`"a FIFO"`, `"a directory"`, …): the reason given
/// when something other than a regular file stands where telemetry expects one.
///
/// ```
/// let t = std::fs::metadata("/").unwrap().file_type();
/// assert_eq!(locus_telemetry::data_dir::file_type_name(&t), "a directory");
/// ```
pub fn file_type_name(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "not a plain file"
    }
}

/// Why the door refused a file, carried inside the `io::Error` it returns (find it with
/// [`refusal`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Something other than a regular file stands at the path (a link, a FIFO…).
    #[error("{found}, not a regular file")]
    NotRegular {
        /// What stands there, in words ([`file_type_name`]).
        found: &'static str,
    },
    /// The file belongs to another user.
    #[error("owned by uid {owner}, not by this app (uid {me})")]
    NotOurs {
        /// The file's owner.
        owner: u32,
        /// This process's effective uid.
        me: u32,
    },
    /// This process is a forked child: the files are the parent's.
    #[error("not written from a forked child; the files are the parent's")]
    ForkedChild,
}

/// The door's reason inside an `io::Error`, if it was a refusal.
pub fn refusal(e: &io::Error) -> Option<&Refusal> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Refusal>())
}

fn refuse(kind: io::ErrorKind, why: Refusal) -> io::Error {
    io::Error::new(kind, why)
}

fn not_regular(found: &'static str) -> io::Error {
    refuse(io::ErrorKind::InvalidInput, Refusal::NotRegular { found })
}

fn map_open_error(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) => not_regular("a symbolic link"),
        // O_WRONLY|O_NONBLOCK on a FIFO with no reader.
        Some(libc::ENXIO) => not_regular("a FIFO"),
        Some(libc::EISDIR) => not_regular("a directory"),
        _ => e,
    }
}

/// After an open: a regular file, ours, and private.
fn vet(file: File) -> io::Result<File> {
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(file_type_name(&meta.file_type())));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(refuse(
            io::ErrorKind::PermissionDenied,
            Refusal::NotOurs {
                owner: meta.uid(),
                me,
            },
        ));
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

fn not_in_child() -> io::Result<()> {
    if crate::fork::forked() {
        return Err(refuse(
            io::ErrorKind::PermissionDenied,
            Refusal::ForkedChild,
        ));
    }
    Ok(())
}

/// Opens an existing file to read.
pub(crate) fn open_read(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(FLAGS)
        .open(path)
        .map_err(map_open_error)?;
    vet(file)
}

/// Opens a file to read and write, creating it (0600) if there is none.
pub(crate) fn open_or_create(path: &Path) -> io::Result<File> {
    not_in_child()?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(FLAGS)
        .open(path)
        .map_err(map_open_error)?;
    vet(file)
}

/// Creates a file that must not exist yet (`O_EXCL`, 0600): never an existing file,
/// never through a link.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    not_in_child()?;
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(FLAGS)
        .open(path)
        .map_err(map_open_error)?;
    vet(file)
}

/// Creates a temporary file at `tmp`, whatever stood there: a stale temporary file, a
/// link or a FIFO planted at that name is unlinked (never followed), then the name is
/// created new.
pub(crate) fn create_temporary(tmp: &Path) -> io::Result<File> {
    not_in_child()?;
    match std::fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        // A directory at the name, or no permission: the create below says why.
        Err(_) => {}
    }
    create_new(tmp)
}

/// The process's file-size limit (`RLIMIT_FSIZE`), if it has one.
#[allow(clippy::unnecessary_cast)] // rlim_t is 32 bits on some 32-bit targets
pub(crate) fn size_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) };
    (rc == 0 && lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur as u64)
}

/// `EFBIG` if a file may not reach `end` bytes under the file-size limit: asked before
/// any write, `ftruncate` or `fallocate` that grows a file, so the kernel never sends
/// SIGXFSZ.
pub(crate) fn check_size(end: u64) -> io::Result<()> {
    match size_limit() {
        Some(limit) if end > limit => Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("the process's file-size limit ({limit} bytes) would be passed"),
        )),
        _ => Ok(()),
    }
}

/// A file written from its start, each write checked against the file-size limit.
#[derive(Debug)]
pub(crate) struct Bounded {
    file: File,
    written: u64,
}

impl Bounded {
    /// Writes into `file` (fresh, empty) from offset 0.
    pub(crate) fn new(file: File) -> Bounded {
        Bounded { file, written: 0 }
    }

    /// The file, e.g. to sync it.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        check_size(self.written + buf.len() as u64)?;
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Replaces `path` with `bytes`: written to `<tmp>` through the door, synced, renamed
/// over `path`. On any failure the temporary file is removed and `path` is left as it
/// was: never a half-written file, never a stray temporary one.
pub(crate) fn replace_via(path: &Path, tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let written = (|| {
        let mut out = Bounded::new(create_temporary(tmp)?);
        out.write_all(bytes)?;
        out.file().sync_data()?;
        std::fs::rename(tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    written
}

/// Creates `dir` and its parents, 0700 for the ones it creates.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_link_at_the_temporary_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep me").unwrap();
        let path = dir.path().join("state.json");
        let tmp = dir.path().join("state.json.tmp");
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        replace_via(&path, &tmp, b"{}").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
        assert!(!tmp.exists());
    }

    #[test]
    fn a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("f");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_read(&fifo).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = open_or_create(&fifo).unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[test]
    fn files_are_created_private_and_narrowed_when_found_open() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        let f = open_or_create(&p).unwrap();
        assert_eq!(f.metadata().unwrap().mode() & 0o777, 0o600);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut f = open_read(&p).unwrap();
        assert_eq!(f.metadata().unwrap().mode() & 0o777, 0o600);
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
    }
}

//! Small JSON state files in the data dir (breaker, upload cursor, community state,
//! session marker) are replaced whole: written beside the old one, then renamed over it,
//! so a crash mid-write leaves the old file or the new one, never half of either. They
//! are read only as regular files of bounded size, never through a link and never
//! blocking.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The most a state file may hold; anything longer is not one of ours.
pub(crate) const MAX_STATE_BYTES: u64 = 64 * 1024;

/// Reads a state file: a regular file only, never through a link, never blocking (a FIFO
/// or a file under another process's lease is an error at once, not a hang), and at most
/// [`MAX_STATE_BYTES`]. `NotFound` when there is none.
pub(crate) fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let not_regular = |what: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what}, not a regular file"),
        )
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => not_regular("a symbolic link"),
            _ => e,
        })?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        return Err(not_regular(crate::data_dir::file_type_name(&kind)));
    }
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than a state file ({MAX_STATE_BYTES} bytes)"),
        ));
    }
    Ok(bytes)
}

/// [`read`] as UTF-8 text.
pub(crate) fn read_to_string(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Replaces `path` with `bytes` via `<path>.json.tmp` and a rename. On failure (a full
/// disk) the temporary file is removed and `path` is left as it was: never a 0-byte or
/// half-written state file, never a stray `.tmp`.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

//! Small JSON state files in the data dir (breaker, upload cursor, community state,
//! session marker) are replaced whole: written beside the old one, then renamed over it,
//! so a crash mid-write leaves the old file or the new one, never half of either. They
//! are read only as regular files of bounded size, never through a link and never
//! blocking.

use std::io::Read;
use std::path::Path;

/// The most a state file may hold; anything longer is not one of ours.
pub(crate) const MAX_STATE_BYTES: u64 = 64 * 1024;

/// Reads a state file through [`crate::door`]: a regular file of our own only, never
/// through a link, never blocking (a FIFO or a file under another process's lease is an
/// error at once, not a hang), and at most [`MAX_STATE_BYTES`]. `NotFound` when there
/// is none.
pub(crate) fn read(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = crate::door::open_read(path)?;
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

/// Replaces `path` with `bytes` via `<path>.json.tmp` and a rename, through
/// [`crate::door`] (the temporary name is never followed if a link or FIFO stands
/// there; 0600; bounded by the file-size limit). On failure (a full disk) the temporary
/// file is removed and `path` is left as it was: never a 0-byte or half-written state
/// file, never a stray `.tmp`.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    crate::door::replace_via(path, &tmp, bytes)
}

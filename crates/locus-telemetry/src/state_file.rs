//! Small JSON state files in the data dir (breaker, upload cursor, community state,
//! session marker) are replaced whole: written beside the old one, then renamed over it,
//! so a crash mid-write leaves the old file or the new one, never half of either.

use std::path::Path;

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

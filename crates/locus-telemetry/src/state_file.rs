//! Small JSON state files in the data dir (breaker, upload cursor, community state,
//! session marker) are replaced whole: written beside the old one, then renamed over it,
//! so a crash mid-write leaves the old file or the new one, never half of either.

use std::path::Path;

/// Replaces `path` with `bytes` via `<path>.json.tmp` and a rename.
pub(crate) fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

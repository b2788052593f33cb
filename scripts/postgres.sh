#!/usr/bin/env bash
# Starts a throwaway PostgreSQL for the locus-community tests and benchmark.
#
# On a fresh Debian machine, as root: installs Debian's postgresql if no server binaries
# are found, creates a cluster in a data directory owned by the `postgres` user (the
# server refuses to run as root), starts it on 127.0.0.1:$PORT, creates the database and
# prints the URL as a shell export on stdout (everything else goes to stderr):
#
#   eval "$(bash scripts/postgres.sh)"      # sets LOCUS_TEST_POSTGRES_URL
#   bash scripts/postgres.sh stop           # stops it (the data directory stays)
#
# Idempotent: a second call finds the server running and only prints the URL.
# Settings (environment): LOCUS_PG_PORT (55432), LOCUS_PG_DIR (/tmp/locus-pg-$PORT),
# LOCUS_PG_DB (locus_test). Authentication is `trust`, on 127.0.0.1 only.
set -euo pipefail

PORT="${LOCUS_PG_PORT:-55432}"
DIR="${LOCUS_PG_DIR:-/tmp/locus-pg-$PORT}"
DATA="$DIR/data"
DB="${LOCUS_PG_DB:-locus_test}"
URL="postgres://postgres@127.0.0.1:$PORT/$DB"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    local d
    # Debian's packages keep the server binaries here (newest major version first).
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
            echo "$d"
            return 0
        fi
    done
    # Elsewhere on PATH (e.g. links in /usr/local/bin), if all three are there.
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v postgres >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return 0
    fi
    return 1
}

BIN="$(find_bindir || true)"
if [ -z "$BIN" ] || ! id postgres >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        log "PostgreSQL is not installed and this is not root: run as root, or apt-get install postgresql"
        exit 1
    fi
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 || apt-get update >&2
    apt-get install -y -qq postgresql >&2
    BIN="$(find_bindir)"
fi

# Run a command as the server's owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

if [ "${1:-}" = "stop" ]; then
    if [ -f "$DATA/postmaster.pid" ]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2 || true
    fi
    log "stopped"
    exit 0
fi

if [ ! -f "$DATA/PG_VERSION" ]; then
    log "creating a cluster in $DATA ($("$BIN/postgres" --version))"
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; fi
    chmod 700 "$DIR"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >&2 \
        || as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >&2
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $PORT"
        echo "unix_socket_directories = '$DIR'"
        echo "max_connections = 300"
        echo "shared_buffers = 128MB"
        echo "logging_collector = off"
    } | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
fi

if as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "already running on 127.0.0.1:$PORT"
else
    log "starting on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >&2 || {
        log "start failed; last lines of $DIR/server.log:"
        tail -n 20 "$DIR/server.log" >&2 || true
        exit 1
    }
fi

PSQL="$BIN/psql"
[ -x "$PSQL" ] || PSQL="$(command -v psql)"
if [ "$(as_owner "$PSQL" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    log "creating database $DB"
    as_owner "$PSQL" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qc "CREATE DATABASE \"$DB\"" >&2
fi

log "ready: $URL"
echo "export LOCUS_TEST_POSTGRES_URL=$URL"

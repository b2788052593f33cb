-- Rate limits shared by every collector on one database (issue 20): one token bucket per
-- key, taken with one atomic upsert (see src/ratelimit.rs). A key is a keyed hash
-- (HMAC-SHA256 under the network key of the day) of "c" + the client key or "p" + the
-- pseudonym, never a client address. Rows of buckets idle for two minutes (full again)
-- are deleted every minute. On PostgreSQL the collector makes the table UNLOGGED at start:
-- no WAL, no fsync per request; a crash empties it, which only refills every bucket.
CREATE TABLE rate_buckets (
    key     TEXT PRIMARY KEY,
    tokens  DOUBLE PRECISION NOT NULL,
    last_ms BIGINT NOT NULL,
    allowed BIGINT NOT NULL
);
CREATE INDEX rate_buckets_by_time ON rate_buckets (last_ms);

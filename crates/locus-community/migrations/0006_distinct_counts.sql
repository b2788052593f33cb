-- Distinct counts kept at ingest (issue 20): every read of a distinct count costs
-- O(buckets × groups), never O(devices) or O(device-days). Exact, no sketch.
--
-- Every read window ends now (the window is "the last N days"; reports from the future
-- are refused), so "distinct members with a report in [since, now]" is "members whose
-- LATEST report ends at or after since". `distinct_last` keeps, per counted group and
-- member, that latest period end; `distinct_counts` keeps how many members have their
-- latest end in each bucket (a UTC day, or an hour for the per-day chart kinds). A read
-- sums the buckets after the one `since` falls in and counts the members of that one
-- partial bucket exactly from `distinct_last` (an index range over members whose latest
-- report is in that bucket — those that stopped reporting then, a small set).
--
-- Kinds (group → member):
--   dev    (version) → pseudonym          crash  (version) → pseudonym, crashed reports
--   net    (version) → network            sig    (version, signature) → pseudonym
--   tpl    (version, signature, template) → pseudonym
--   tplnet (version, signature, template) → network
--   daydev (version, day) → pseudonym     daynet (version, day) → network   (hour buckets)
-- Unused group columns hold '' (text) or 0 (day). The chart kinds also keep the day's
-- total in bucket -1, so only the window's first day is summed over hours.
CREATE TABLE distinct_last (
    kind      TEXT NOT NULL,
    version   TEXT NOT NULL,
    signature TEXT NOT NULL,
    template  TEXT NOT NULL,
    day       BIGINT NOT NULL,
    member    TEXT NOT NULL,
    last_end  BIGINT NOT NULL,
    -- The latest end before the last upsert (NULL when it inserted the row): what the
    -- upsert returns so the writer can move the member between buckets.
    prev_end  BIGINT,
    PRIMARY KEY (kind, version, signature, template, day, member)
);
CREATE INDEX distinct_last_by_end ON distinct_last (kind, last_end);
CREATE INDEX distinct_last_by_member ON distinct_last (member);

CREATE TABLE distinct_counts (
    kind      TEXT NOT NULL,
    version   TEXT NOT NULL,
    signature TEXT NOT NULL,
    template  TEXT NOT NULL,
    day       BIGINT NOT NULL,
    bucket    BIGINT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (kind, version, signature, template, day, bucket)
);
CREATE INDEX distinct_counts_by_bucket ON distinct_counts (kind, bucket);

-- Backfill from the reports stored before this migration.
INSERT INTO distinct_last (kind, version, signature, template, day, member, last_end)
SELECT 'dev', app_version, '', '', 0, pseudonym, MAX(period_end) FROM reports
GROUP BY app_version, pseudonym;
INSERT INTO distinct_last (kind, version, signature, template, day, member, last_end)
SELECT 'crash', app_version, '', '', 0, pseudonym, MAX(period_end) FROM reports
WHERE crashed > 0 GROUP BY app_version, pseudonym;
INSERT INTO distinct_last (kind, version, signature, template, day, member, last_end)
SELECT 'net', app_version, '', '', 0, network, MAX(period_end) FROM reports
GROUP BY app_version, network;
INSERT INTO distinct_last (kind, version, signature, template, day, member, last_end)
SELECT 'sig', r.app_version, c.signature, '', 0, r.pseudonym, MAX(r.period_end)
FROM crashes c JOIN reports r ON r.report_id = c.report_id
GROUP BY r.app_version, c.signature, r.pseudonym;
INSERT INTO distinct_last (kind, version, signature, template, day, member, last_end)
SELECT 'tpl', r.app_version, c.signature, c.message, 0, r.pseudonym, MAX(r.period_end)
FROM crashes c JOIN reports r ON r.report_id = c.report_id
GROUP BY r.app_version, c.signature, c.message, r.pseudonym;
INSERT INTO distinct_last (kind, version, signature, template, day, member, last_end)
SELECT 'tplnet', r.app_version, c.signature, c.message, 0, r.network, MAX(r.period_end)
FROM crashes c JOIN reports r ON r.report_id = c.report_id
GROUP BY r.app_version, c.signature, c.message, r.network;
INSERT INTO distinct_last (kind, version, signature, template, day, member, last_end)
SELECT 'daydev', app_version, '', '', period_end / 86400, pseudonym, MAX(period_end)
FROM reports GROUP BY app_version, period_end / 86400, pseudonym;
INSERT INTO distinct_last (kind, version, signature, template, day, member, last_end)
SELECT 'daynet', app_version, '', '', period_end / 86400, network, MAX(period_end)
FROM reports GROUP BY app_version, period_end / 86400, network;

INSERT INTO distinct_counts (kind, version, signature, template, day, bucket, n)
SELECT kind, version, signature, template, day,
       CASE WHEN kind IN ('daydev', 'daynet') THEN last_end / 3600 ELSE last_end / 86400 END,
       COUNT(*)
FROM distinct_last
GROUP BY kind, version, signature, template, day,
         CASE WHEN kind IN ('daydev', 'daynet') THEN last_end / 3600 ELSE last_end / 86400 END;
INSERT INTO distinct_counts (kind, version, signature, template, day, bucket, n)
SELECT kind, version, signature, template, day, -1, COUNT(*) FROM distinct_last
WHERE kind IN ('daydev', 'daynet') GROUP BY kind, version, signature, template, day;

-- The per-day device sets of 0003 are replaced by the above (no read uses them).
DROP TABLE version_devices;
DROP TABLE crash_devices;

-- Rollups maintained at ingest (issue 20): every read costs O(hours × versions) for the
-- sums and O(device-days) for the distinct counts, never O(reports). Reports themselves
-- are kept only for deletions (which recompute the touched rollup rows from them) and
-- for the one hour the window's start falls in (read exactly from `reports`).
--
-- Sums per UTC hour of the period end and version (hour = period_end / 3600).
CREATE TABLE version_hours (
    hour     BIGINT NOT NULL,
    version  TEXT NOT NULL,
    reports  BIGINT NOT NULL,
    sessions BIGINT NOT NULL,
    crashed  BIGINT NOT NULL,
    abnormal BIGINT NOT NULL,
    PRIMARY KEY (hour, version)
);

-- The per-day device set: one row per UTC day (of the period end), version, pseudonym and
-- client network, with the latest period end of that day (and of a crashed report), so a
-- window starting mid-day still counts exactly the devices with a report inside it.
CREATE TABLE version_devices (
    day            BIGINT NOT NULL,
    version        TEXT NOT NULL,
    pseudonym      TEXT NOT NULL,
    network        TEXT NOT NULL,
    last_end       BIGINT NOT NULL,
    last_crash_end BIGINT,
    PRIMARY KEY (day, version, pseudonym, network)
);
CREATE INDEX version_devices_by_pseudonym ON version_devices (pseudonym);

-- Crash counts per hour, version and signature.
CREATE TABLE crash_hours (
    hour      BIGINT NOT NULL,
    version   TEXT NOT NULL,
    signature TEXT NOT NULL,
    kind      TEXT NOT NULL,
    location  TEXT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (hour, version, signature)
);

-- The per-day device set of crashes, by template: who reported which template of which
-- signature (for the signature's device count and the template's k test).
CREATE TABLE crash_devices (
    day       BIGINT NOT NULL,
    version   TEXT NOT NULL,
    signature TEXT NOT NULL,
    template  TEXT NOT NULL,
    pseudonym TEXT NOT NULL,
    network   TEXT NOT NULL,
    last_end  BIGINT NOT NULL,
    PRIMARY KEY (day, version, signature, template, pseudonym, network)
);
CREATE INDEX crash_devices_by_pseudonym ON crash_devices (pseudonym);

-- Backfill from the reports stored before this migration.
INSERT INTO version_hours (hour, version, reports, sessions, crashed, abnormal)
SELECT period_end / 3600, app_version, COUNT(*), SUM(exited + crashed + abnormal),
       SUM(crashed), SUM(abnormal)
FROM reports GROUP BY period_end / 3600, app_version;

INSERT INTO version_devices (day, version, pseudonym, network, last_end, last_crash_end)
SELECT period_end / 86400, app_version, pseudonym, network, MAX(period_end),
       MAX(CASE WHEN crashed > 0 THEN period_end END)
FROM reports GROUP BY period_end / 86400, app_version, pseudonym, network;

INSERT INTO crash_hours (hour, version, signature, kind, location, count)
SELECT r.period_end / 3600, r.app_version, c.signature, MIN(c.kind), MIN(c.location),
       SUM(c.count)
FROM crashes c JOIN reports r ON r.report_id = c.report_id
GROUP BY r.period_end / 3600, r.app_version, c.signature;

INSERT INTO crash_devices (day, version, signature, template, pseudonym, network, last_end)
SELECT r.period_end / 86400, r.app_version, c.signature, c.message, r.pseudonym, r.network,
       MAX(r.period_end)
FROM crashes c JOIN reports r ON r.report_id = c.report_id
GROUP BY r.period_end / 86400, r.app_version, c.signature, c.message, r.pseudonym, r.network;

-- The collector's schema, portable between SQLite and PostgreSQL (the same file runs on
-- both). Times are Unix seconds (BIGINT). No client address is ever stored: a row holds
-- only what the device put in its report.

CREATE TABLE reports (
    report_id   TEXT PRIMARY KEY,
    pseudonym   TEXT NOT NULL,
    app_version TEXT NOT NULL,
    platform    TEXT NOT NULL,
    os_family   TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end  BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    exited      BIGINT NOT NULL,
    crashed     BIGINT NOT NULL,
    abnormal    BIGINT NOT NULL
);
CREATE INDEX reports_by_end ON reports (period_end, app_version);
CREATE INDEX reports_by_pseudonym ON reports (pseudonym);

CREATE TABLE crashes (
    report_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    kind      TEXT NOT NULL,
    message   TEXT NOT NULL,
    location  TEXT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (report_id, signature)
);

CREATE TABLE metrics (
    report_id TEXT NOT NULL,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    count     BIGINT NOT NULL,
    sum       DOUBLE PRECISION NOT NULL,
    min       DOUBLE PRECISION NOT NULL,
    max       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (report_id, name)
);

-- Report ids of deleted pseudonyms: a late retry of a forgotten report stays forgotten.
-- Only the random report id is kept, never the pseudonym.
CREATE TABLE forgotten (
    report_id TEXT PRIMARY KEY
);

-- Retention (issue 20): forgotten report ids get the time they were forgotten, so they can
-- expire once a retry of their report would be refused as too old anyway. Ids forgotten
-- before this migration are dated by the latest receipt stored (about now).
ALTER TABLE forgotten ADD COLUMN forgotten_at BIGINT NOT NULL DEFAULT 0;
UPDATE forgotten SET forgotten_at = (SELECT COALESCE(MAX(received_at), 0) FROM reports);
CREATE INDEX forgotten_by_time ON forgotten (forgotten_at);

-- Metrics were stored and never read by any endpoint: no longer written, and dropped.
DELETE FROM metrics;

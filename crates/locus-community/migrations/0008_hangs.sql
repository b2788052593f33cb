-- Hangs (a report's count of watched-loop hangs that started in its period): kept per
-- report (for the window's first hour and deletions) and summed per hour × version, so
-- "hangs per session" per version costs what the other sums cost. Older rows: 0.
ALTER TABLE reports ADD COLUMN hangs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE version_hours ADD COLUMN hangs BIGINT NOT NULL DEFAULT 0;

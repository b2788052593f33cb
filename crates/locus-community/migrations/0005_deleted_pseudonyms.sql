-- Deletion is final (issue 20): a deleted pseudonym's later reports are refused (the
-- device makes a new pseudonym when it opts in again). Only the SHA-256 of the pseudonym
-- is kept, never the pseudonym; rows are kept for good (one per deletion request).
CREATE TABLE deleted_pseudonyms (
    pseudonym_hash TEXT PRIMARY KEY,
    deleted_at     BIGINT NOT NULL
);

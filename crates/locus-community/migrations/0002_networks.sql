-- Client networks (issue 19, k means k devices): each report keeps the keyed hash of the
-- network it came from (see src/network.rs), never the address or the network itself.
-- Reports stored before this migration share the empty hash: together they count as one
-- network. The key of the current UTC day is the only one kept; older keys are deleted,
-- which makes older hashes unlinkable to any network.

ALTER TABLE reports ADD COLUMN network TEXT NOT NULL DEFAULT '';
CREATE INDEX reports_by_network ON reports (network, pseudonym);

CREATE TABLE network_keys (
    day    BIGINT PRIMARY KEY,
    secret TEXT NOT NULL
);

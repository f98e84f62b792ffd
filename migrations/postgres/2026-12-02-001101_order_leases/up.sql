-- A PENDING order's lease: the replica working on it (owner) holds it until expires_at
-- (microseconds since the Unix epoch, UTC) and renews it while it works; another replica
-- takes the order over only once the lease has lapsed. (A table of its own: diesel's tables
-- stop at 16 columns and orders has 15.)
CREATE TABLE order_leases (
    order_id VARCHAR(36) NOT NULL PRIMARY KEY,
    owner VARCHAR(64) NOT NULL,
    expires_at BIGINT NOT NULL
);

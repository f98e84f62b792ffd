-- A running asymmetric order's passphrase, sealed under the project KEK (never in the order's
-- meta, never in plaintext); the row is deleted when the order ends or is deleted.
CREATE TABLE order_passphrases (
    order_id VARCHAR(36) NOT NULL PRIMARY KEY,
    kek_id VARCHAR(36) NOT NULL,
    cypher_text BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

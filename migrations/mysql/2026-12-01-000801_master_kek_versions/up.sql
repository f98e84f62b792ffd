-- The master KEK versions of the deployment, each with a key-check value: HMAC-SHA256 under the
-- version's key over a fixed label and the version number. `kek init` and `kek rotate` record
-- it when they seal a version; `kek import` accepts only versions listed here whose key matches
-- its check value. Retired versions stay listed (retired_at set): a replica holding one still
-- matches it, and no other key can be brought in under its number.
CREATE TABLE master_kek_versions (
    version INTEGER NOT NULL PRIMARY KEY,
    check_value LONGBLOB NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

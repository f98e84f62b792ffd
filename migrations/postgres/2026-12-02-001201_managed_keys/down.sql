DROP TABLE managed_key_versions;
DROP TABLE managed_keys;

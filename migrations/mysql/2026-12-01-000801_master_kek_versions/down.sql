DROP TABLE master_kek_versions;

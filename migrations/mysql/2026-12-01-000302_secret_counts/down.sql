DROP TRIGGER tr_secret_counts_update;
DROP TRIGGER tr_secret_counts_delete;
DROP TRIGGER tr_secret_counts_insert;
DROP TABLE secret_counts;

DROP TRIGGER tr_secret_counts_update_new;
DROP TRIGGER tr_secret_counts_update_old;
DROP TRIGGER tr_secret_counts_delete;
DROP TRIGGER tr_secret_counts_insert;
DROP TABLE secret_counts;

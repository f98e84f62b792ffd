DROP TRIGGER tr_secret_counts_update ON secrets;
DROP TRIGGER tr_secret_counts_delete ON secrets;
DROP TRIGGER tr_secret_counts_insert ON secrets;
DROP FUNCTION secret_counts_updated();
DROP FUNCTION secret_counts_deleted();
DROP FUNCTION secret_counts_inserted();
DROP TABLE secret_counts;

DROP TRIGGER tr_secret_counts ON secrets;
DROP FUNCTION secret_counts_track();
DROP TABLE secret_counts;

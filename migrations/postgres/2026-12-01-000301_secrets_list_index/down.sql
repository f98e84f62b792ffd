DROP INDEX ix_secrets_live_count;
DROP INDEX ix_secrets_live;

DROP TABLE transport_keys;
DROP TABLE project_secret_store;
DROP TABLE secret_stores;
DROP TABLE project_quotas;
DROP TABLE orders;
DROP TABLE container_consumers;
DROP TABLE container_secrets;
DROP TABLE containers;

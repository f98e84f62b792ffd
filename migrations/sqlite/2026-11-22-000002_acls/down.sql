DROP TABLE acl_users;
DROP TABLE acls;

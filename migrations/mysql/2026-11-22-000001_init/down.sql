DROP TABLE secret_consumers;
DROP TABLE secret_user_metadata;
DROP TABLE secrets;
DROP TABLE project_keks;
DROP TABLE projects;

-- Record that the migration and view files with this digest were applied (Store.migrate).
insert into store_migrations (sql_sha256) values ($sql_sha256)

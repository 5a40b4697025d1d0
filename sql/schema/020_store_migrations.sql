-- The digest of the migration and view files each migration applied (Store.migrate): a store
-- migrated by the same files is not migrated again (on a lake, each view replaced would be a
-- snapshot).
create table if not exists store_migrations (
    sql_sha256 varchar not null,
    migrated_at timestamptz not null default current_timestamp
)

-- The digests of the migration files this store was migrated by (Store.migrate).
select sql_sha256
from store_migrations

-- How many of the tables $names exist in the store's main schema (Store.migrate).
select count(*) as found
from duckdb_tables()
where database_name = current_database()
  and schema_name = 'main'
  and list_contains($names, table_name)

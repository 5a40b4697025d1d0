-- The tables of an attached store's main schema ($database: its catalog name).
select table_name
from duckdb_tables()
where database_name = $database and schema_name = 'main'

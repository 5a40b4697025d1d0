-- The columns of a table of the store's main schema, in order ($database: its catalog).
select column_name
from duckdb_columns()
where database_name = $database and schema_name = 'main' and table_name = $table
order by column_index

-- Copy one table of an attached DuckDB store (`src`) into this store (Store.copy_from); the
-- table name comes from the migrations' own list (store/copy.py), columns match by name.
insert into main."{table}" by name
select * from src.main."{table}"

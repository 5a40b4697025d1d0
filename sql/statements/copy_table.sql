-- Copy one table of an attached DuckDB store (`src`) into this store (store/copy.py, which
-- puts the table's name, from the migrations' own list, where copied_table stands); columns
-- match by name.
insert into main.copied_table by name
select * from src.main.copied_table

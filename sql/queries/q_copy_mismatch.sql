-- Rows of one table that differ between the attached source store (`src`) and this one,
-- compared whole, row by row, as multisets (a row missing or duplicated on either side counts).
-- store/copy.py puts the table's name where copied_table stands and the source's columns where
-- copied_columns stands.
select
    (select count(*) from src.main.copied_table) as source_rows,
    (select count(*) from main.copied_table) as target_rows,
    (select count(*) from (select copied_columns from src.main.copied_table
                           except all
                           select copied_columns from main.copied_table)) as missing,
    (select count(*) from (select copied_columns from main.copied_table
                           except all
                           select copied_columns from src.main.copied_table)) as extra

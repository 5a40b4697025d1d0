-- Rows of one table that differ between the attached source store (`src`) and this one,
-- compared whole, row by row, as multisets (a row missing or duplicated on either side counts).
select
    (select count(*) from src.main."{table}") as source_rows,
    (select count(*) from main."{table}") as target_rows,
    (select count(*) from (select {columns} from src.main."{table}"
                           except all
                           select {columns} from main."{table}")) as missing,
    (select count(*) from (select {columns} from main."{table}"
                           except all
                           select {columns} from src.main."{table}")) as extra

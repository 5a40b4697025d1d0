-- Merge small adjacent data files into larger ones (`store maintain`); rows: per table, the
-- files merged and the files written.
call ducklake_merge_adjacent_files('lake')

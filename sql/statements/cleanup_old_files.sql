-- Delete the data files no kept snapshot reads any more (`store maintain`); rows: the paths.
call ducklake_cleanup_old_files('lake', cleanup_all => true)

-- Delete the lake's data files that no snapshot lists (`store copy` into a lake that holds no
-- run: what a killed copy wrote before it could commit or roll back); rows: the paths.
call ducklake_delete_orphaned_files('lake', cleanup_all => true)

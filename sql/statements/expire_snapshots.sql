-- Expire these snapshots (`store maintain`): their files are scheduled for deletion once no
-- kept snapshot reads them; rows: the snapshots expired.
call ducklake_expire_snapshots('lake', versions => $versions)

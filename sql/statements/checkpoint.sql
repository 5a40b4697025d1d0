-- Write everything the write-ahead log holds into the database file (a new store is
-- checkpointed before it is moved into place: one complete file).
checkpoint

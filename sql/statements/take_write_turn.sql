-- Take the store's write turn (sql/schema/019_store_writes.sql): overlapping writers conflict.
update store_writes set writes = writes + 1

-- One row that every write transaction updates first (Store.transaction: take_write_turn).
-- A DuckLake table has no primary key: two writers that each read "not stored yet" (an
-- ingest's ledger, new pairs, a fingerprint) would both insert. Taking the turn makes the
-- later of two overlapping writers conflict, roll back and retry against what the first
-- committed. On a DuckDB file (one writer at a time) it costs one tiny update.
create table if not exists store_writes (
    writes bigint not null
);
insert into store_writes
select 0
where not exists (select 1 from store_writes);

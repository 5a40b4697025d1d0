-- Key: shard_id, kept unique by the statements that insert (an anti join on it), not by a
-- constraint: a DuckLake table has none (stores created before keep their primary key).
-- Ledger of score shards loaded into scores: a shard ingested twice adds nothing.
create table if not exists ingested_shards (
    shard_id varchar not null,
    run_id varchar not null,
    engine_name varchar not null,
    variant varchar not null,
    shard_rows bigint not null,
    ingested_at timestamptz not null default current_timestamp
)

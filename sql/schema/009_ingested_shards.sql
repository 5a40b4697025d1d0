-- Ledger of score shards loaded into scores: a shard ingested twice adds nothing.
create table if not exists ingested_shards (
    shard_id varchar primary key,
    run_id varchar not null,
    engine_name varchar not null,
    variant varchar not null,
    shard_rows bigint not null,
    ingested_at timestamptz not null default current_timestamp
)

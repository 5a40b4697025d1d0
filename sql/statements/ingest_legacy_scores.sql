-- Load one run's score shards written before token snapshots ($files: Parquet without the
-- token columns, shards.LEGACY_SCHEMA); as ingest_scores, a score already stored wins.
insert into scores by name
with incoming as (
    select *
    from read_parquet($files)
),
stored as (
    select run_id, engine_name, variant, pair_id
    from scores
    where run_id = $run_id
)
select incoming.*
from incoming
anti join stored using (run_id, engine_name, variant, pair_id)

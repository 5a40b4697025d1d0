-- Load one run's score shards ($files: Parquet). A score already stored for (run, engine,
-- variant, pair) wins over one arriving again; shards of one ingest do not overlap (workers
-- skip pairs that wait in shards: scoring.score_shards).
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

-- Load one run's score shards ($files: Parquet). A score already stored for (run, engine,
-- variant, pair) wins over one arriving again; shards of one ingest do not overlap (workers
-- skip pairs that wait in shards: scoring.score_shards). The token sample columns go to
-- token_samples (ingest_token_samples.sql).
insert into scores by name
with incoming as (
    select * exclude (sample_ids, sample_tokens)
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

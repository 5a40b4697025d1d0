-- The token samples of one run's score shards ($files: Parquet; rows with sample_ids): one
-- row per (run, engine, variant, pair), a sample already stored wins.
insert into token_samples by name
with incoming as (
    select run_id, engine_name, engine_id, pair_id, variant, sample_ids as ids,
           sample_tokens as tokens
    from read_parquet($files)
    where sample_ids is not null
),
stored as (
    select run_id, engine_name, variant, pair_id
    from token_samples
    where run_id = $run_id
)
select incoming.*
from incoming
anti join stored using (run_id, engine_name, variant, pair_id)

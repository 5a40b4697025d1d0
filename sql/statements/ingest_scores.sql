-- Load one run's score shards ($files: Parquet). A score already stored for (run, engine,
-- variant, pair) wins over one arriving again; shards of one ingest do not overlap (workers
-- skip pairs that wait in shards: scoring.score_shards). The token sample columns go to
-- token_samples (ingest_token_samples.sql).
insert into scores by name
with incoming as (
    select * exclude (sample_ids, sample_tokens), file_index, file_row_number
    from read_parquet($files)
),
stored as (
    select run_id, engine_name, variant, pair_id
    from scores
    where run_id = $run_id
)
select incoming.* exclude (file_index, file_row_number)
from incoming
anti join stored using (run_id, engine_name, variant, pair_id)
-- in the shards' order (the order the engine config was given the pairs): a parallel anti join
-- returns rows in any order, and the suite lines engines and baselines up without a join only
-- where they are stored alike (issue 31: 10 M reordered rows cost a hash join per engine)
order by file_index, file_row_number

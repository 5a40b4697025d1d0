-- Load one run's score shards ($files: Parquet) of engine configs and variants the run holds
-- no score of yet (q_parts_stored): nothing to keep, so the rows stream in as the shards hold
-- them, in the order the engine config was given the pairs (the suite lines engines and
-- baselines up without a join where they are stored alike: issue 31). The token sample
-- columns go to token_samples (ingest_token_samples.sql).
insert into scores by name
select * exclude (sample_ids, sample_tokens)
from read_parquet($files)

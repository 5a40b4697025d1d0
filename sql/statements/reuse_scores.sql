-- Per wanted pair (the relation `wanted`, registered by Store.reuse_pairs), copy the latest
-- $variant score of one fingerprint stored by another run into run $run_id as engine config
-- $engine_name; pairs it already holds are kept. reused_from_run names the run that scored it.
insert into scores by name
with candidates as (
    select s.*, w.at as wanted_at
    from scores as s
    join wanted as w using (pair_id)
    where s.engine_id = $engine_id and s.variant = $variant and s.run_id <> $run_id
    qualify row_number() over (partition by s.pair_id order by s.scored_at desc, s.run_id) = 1
),
present as (
    select pair_id
    from scores
    where run_id = $run_id and engine_name = $engine_name and variant = $variant
)
select $run_id as run_id, $engine_name as engine_name, engine_id, pair_id, variant, logit,
       score, activation, tokens, input_tokens, token_hash, batch_index, latency_ms, scored_at,
       coalesce(reused_from_run, run_id) as reused_from_run
from candidates
anti join present using (pair_id)
-- in the wanted pairs' order (the order the engine config was given them), as a scored shard
-- is stored: the suite lines engines and baselines up without a join where they are stored
-- alike (issue 31)
order by wanted_at

-- The main scores of the accepted runs q_history_baselines chose: one row per
-- (baseline_run_id, source_name, pair_id) of $runs / $sources, only for the pairs run $run_id
-- scored tonight (a check compares those; the rest of an accepted run is never read).
with wanted as (
    select distinct unnest($runs) as run_id, unnest($sources) as engine_name
),
tonight as (
    select pair_id
    from scores
    where run_id = $run_id
      and variant = 'main'
)
select s.run_id as baseline_run_id, s.engine_name as source_name, s.pair_id, s.score, s.logit,
       s.input_tokens, s.token_hash
from scores as s
join wanted using (run_id, engine_name)
semi join tonight using (pair_id)
where s.variant = 'main'

-- The main scores of the accepted runs q_history_baselines chose: one row per
-- (baseline_run_id, source_name, pair_id) of $runs / $sources.
with wanted as (
    select distinct unnest($runs) as run_id, unnest($sources) as engine_name
)
select s.run_id as baseline_run_id, s.engine_name as source_name, s.pair_id, s.score, s.logit,
       s.input_tokens, s.token_hash
from scores as s
join wanted using (run_id, engine_name)
where s.variant = 'main'

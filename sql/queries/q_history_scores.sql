-- The main scores of the accepted runs q_history_baselines chose: every row of a run of $runs
-- by an engine name of $sources (the store keeps the (run, source) pairs it was asked for), in
-- stored order: a filter, not a join, so an engine's history lines up with tonight's scores of
-- the same pairs and the checks put them side by side without a join. The run and engine are
-- given as their positions in $runs / $sources (run_at, source_at), not as text on every row,
-- and the pair as its key (hash(pair_id)), not its id (issue 31).
select list_position($runs, run_id) as run_at, list_position($sources, engine_name) as source_at,
       hash(pair_id) as pair_key, score, logit, input_tokens, token_hash
from scores
where variant = 'main'
  and list_contains($runs, run_id)
  and list_contains($sources, engine_name)

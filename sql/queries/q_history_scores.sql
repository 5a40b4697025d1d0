-- The main scores of engine config $source in the accepted run $run (one of the baselines
-- q_history_baselines chose), in stored order: a filter, not a join, so they line up with
-- tonight's scores of the same pairs and the checks put them side by side without a join, and
-- no key columns: Store.history_frames adds them once per baseline (issue 31).
select pair_id, score, logit, input_tokens, token_hash
from scores
where run_id = $run
  and engine_name = $source
  and variant = 'main'

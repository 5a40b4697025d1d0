-- One accepted run's main scores by one engine name with their pair ids (q_history_scores'
-- rows of that run and engine, in the same order): what the store reads when those rows do
-- not line up with tonight's scores by key.
select pair_id, score, logit, input_tokens, token_hash
from scores
where variant = 'main'
  and run_id = $run_id
  and engine_name = $engine_name

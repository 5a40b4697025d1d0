-- One engine config's main scores in one run with their pair ids (q_suite_scores' rows, in the
-- same order): what the store reads instead when the pair keys do not tell pairs apart.
select pair_id, logit, score, tokens, input_tokens, token_hash
from scores
where run_id = $run_id
  and engine_name = $engine_name
  and variant = 'main'

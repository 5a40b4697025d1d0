-- A suite's main scores of one run, narrow and in stored order (engine after engine, each in
-- the order it scored the pairs): the store puts the pair columns (q_suite_pairs) beside them,
-- as v_run_scores would. No join here: a join would give up the stored order.
select engine_name, pair_id, logit, score, tokens, input_tokens, token_hash
from scores
where run_id = $run_id
  and variant = 'main'

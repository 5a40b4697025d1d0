-- A run's main scores, narrow and in stored order (engine config after engine config, each in
-- the order it scored the pairs). The engine is given as its position in $engines (engine_at)
-- and the pair as its key (hash(pair_id), as q_suite_pairs gives it), not as text on every
-- row: the store puts the pair columns beside the scores by key (issue 31: four million pair
-- ids cost a second and a gigabyte to cross over; their keys, a tenth of that).
select list_position($engines, engine_name) as engine_at, hash(pair_id) as pair_key,
       logit, score, tokens, input_tokens, token_hash
from scores
where run_id = $run_id
  and variant = 'main'
  and list_contains($engines, engine_name)

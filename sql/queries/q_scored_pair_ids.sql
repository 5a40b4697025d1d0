-- Pairs that already have a $variant score by one engine config in one run.
select pair_id
from scores
where run_id = $run_id
  and engine_name = $engine_name
  and variant = $variant

-- The first unused batch number of one engine config's $variant scores in one run.
select coalesce(max(batch_index) + 1, 0) as batch_index
from scores
where run_id = $run_id
  and engine_name = $engine_name
  and variant = $variant

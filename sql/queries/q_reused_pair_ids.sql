-- Main pairs of one engine config in a run whose scores were copied from an earlier run.
select pair_id, reused_from_run
from scores
where run_id = $run_id
  and engine_name = $engine_name
  and variant = 'main'
  and reused_from_run is not null
order by pair_id

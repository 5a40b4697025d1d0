-- The latest recorded status of one engine config in one run.
select status
from run_engines
where run_id = $run_id
  and engine_name = $engine_name
order by recorded_at desc
limit 1

-- The fingerprints (engine_id) one engine config's stored scores in one run were made by.
select distinct engine_id
from scores
where run_id = $run_id
  and engine_name = $engine_name

-- How many pairs a run recorded covering when it started (run_pairs).
select count(*) as pairs
from run_pairs
where run_id = $run_id

-- The runs row of one run.
select *
from runs
where run_id = $run_id

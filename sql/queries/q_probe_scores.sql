-- One run's probe scores (repeat, reload, swapped), as a suite reads them.
select *
from v_probe_scores
where run_id = $run_id

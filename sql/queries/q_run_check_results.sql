-- One run's check results of its latest judgement (see q_run_verdicts).
select *
from check_results
where run_id = $run_id
qualify recorded_at = max(recorded_at) over ()
order by check_name, engine_name, subject

-- Mark a failed or interrupted run running again (resume).
update runs
set status = 'running', error = null, finished_at = null
where run_id = $run_id

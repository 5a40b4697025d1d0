-- Close a run with its final status (and error); Store.finish_run then summarizes it.
update runs
set status = $status, error = $error, finished_at = $finished_at
where run_id = $run_id

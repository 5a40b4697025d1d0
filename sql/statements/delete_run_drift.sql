-- Drop one run's drift rows before insert_run_drift writes them again (a resumed run).
delete from run_drift
where run_id = $run_id

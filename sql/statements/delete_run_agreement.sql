-- Drop one run's agreement rows before insert_run_agreement writes them again.
delete from run_agreement
where run_id = $run_id

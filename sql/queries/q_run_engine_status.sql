-- Each engine config of one run with its latest status and fingerprint columns.
select *
from v_run_engine_status
where run_id = $run_id
order by engine_name

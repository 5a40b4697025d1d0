-- The run a Prefect flow run opened (its latest, should it have opened several).
select run_id
from runs
where flow_run_id = $flow_run_id
order by started_at desc
limit 1

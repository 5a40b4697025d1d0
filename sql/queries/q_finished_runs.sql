-- Runs no longer running (succeeded, failed): those a migration summarizes once.
select run_id
from runs
where status <> 'running'

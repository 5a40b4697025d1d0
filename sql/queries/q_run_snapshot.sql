-- The snapshot a run's finish committed (`--as-of run:RUN`): the last one whose commit names
-- that run and the finish_run step (sql/statements/set_commit_message.sql).
with steps as (
    select
        snapshot_id,
        json_extract_string(commit_extra_info, '$.step') as step,
        cast(json_extract(commit_extra_info, '$.runs') as varchar[]) as runs
    from ducklake_snapshots('lake')
    where commit_extra_info is not null
)
select max(snapshot_id) as snapshot_id
from steps
where step = 'finish_run' and list_contains(runs, $run_id)

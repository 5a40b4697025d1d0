-- A lake's snapshots, oldest first, with the step and runs each commit wrote
-- (`rerankwatch store maintain`, README: Team store).
select
    snapshot_id,
    snapshot_time,
    commit_message,
    commit_extra_info
from ducklake_snapshots('lake')
order by snapshot_id

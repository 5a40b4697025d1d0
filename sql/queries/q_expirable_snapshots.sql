-- Snapshots `store maintain` expires: older than the cutoff, never the current one. Picked
-- here, not by ducklake_expire_snapshots' older_than: on a SQLite catalog DuckLake 1.5.5
-- compares that as text and expires same-day snapshots newer than it.
with current as (
    select max(snapshot_id) as snapshot_id from ducklake_snapshots('lake')
)
select s.snapshot_id
from ducklake_snapshots('lake') as s, current
where s.snapshot_time < $cutoff and s.snapshot_id < current.snapshot_id
order by s.snapshot_id

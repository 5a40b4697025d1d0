-- Every check result over time: per check, engine, subject and run, with the run's start,
-- flow_name and short flow (v_runs.flow: nightly, gate, score, replay, ...), and the status
-- the same check had on the same engine and subject the run before (of any flow: filter on
-- `flow` for one flow's history).
create or replace view check_history as
with results as (
    select c.check_name, c.engine_name, c.other_engine_name, c.subject, c.run_id, c.status,
           c.observed, c.threshold, c.blocking, c.recorded_at
    from check_results as c
),
timed as (
    select results.*, r.started_at, r.flow_name, r.flow
    from results
    left join v_runs as r using (run_id)
)
select check_name, engine_name, other_engine_name, subject, run_id, started_at, flow_name,
       flow, status, observed, threshold, blocking,
       lag(status) over (
           partition by check_name, engine_name, other_engine_name, subject
           order by started_at, run_id, recorded_at
       ) as previous_status
from timed

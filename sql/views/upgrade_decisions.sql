-- Every upgrade-gate verdict: baseline (the suite's reference) against its candidate, with
-- the run's flow (v_runs.flow: gate for the upgrade-gate flow; a replay judged by the gate
-- suite shows its own).
create or replace view upgrade_decisions as
with gate as (
    select run_id, decided_at, reference, candidates, verdict, failing_checks
    from verdicts
    where suite = 'gate'
)
select g.run_id, g.decided_at, g.reference as baseline, g.candidates[1] as candidate,
       g.verdict, g.failing_checks, r.flow
from gate as g
left join v_runs as r using (run_id)

-- Every acceptance of an engine config's scores as its history baseline, automatic (its suite
-- passed) or manual (`rerankwatch baseline accept`, with who and why), and every candidate a
-- passing gate approved ("approved in gate run X": not a baseline), newest first. flow: the
-- run's (v_runs.flow). is_baseline: the row is a history baseline (q_history_baselines);
-- never a gate approval, nor a gate's automatic acceptance from before gate_approvals existed.
create or replace view baseline_history as
with acceptances as (
    select a.accepted_at, a.engine_name, a.run_id, 'acceptance' as record,
           case
               when a.manual then 'manual'
               when a.suite = 'gate' then 'gate suite passed (not a baseline)'
               else 'suite passed'
           end as how,
           a.manual or a.suite is distinct from 'gate' as is_baseline,
           a.pinned, a.accepted_by, a.reason, a.suite, a.engine_id,
           cast(null as varchar) as judged_against
    from baseline_acceptances as a
),
approvals as (
    select g.approved_at as accepted_at, g.engine_name, g.run_id, 'gate-approval' as record,
           'approved in gate run ' || g.run_id as how, false as is_baseline, false as pinned,
           g.approved_by as accepted_by, g.reason, g.suite, g.engine_id,
           g.baseline_engine_name as judged_against
    from gate_approvals as g
),
entries as (
    select * from acceptances
    union all by name
    select * from approvals
)
select x.accepted_at, x.engine_name, x.run_id, r.flow, x.record, x.how, x.is_baseline,
       x.engine_id, x.pinned, x.accepted_by, x.reason, x.suite, x.judged_against,
       r.started_at as run_started_at, e.kind, e.model, e.dtype, e.weights_sha256, e.versions
from entries as x
left join v_runs as r using (run_id)
left join engines as e using (engine_id)
order by x.accepted_at desc

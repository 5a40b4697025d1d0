-- The accepted runs each engine config of a run is held to (history_baseline): for every
-- (engine_name, source_name) of $engines / $sources (the engine's own name; in a gate, a
-- candidate is held to its baseline engine's history), the last acceptance and the last pinned
-- one among runs that started before this run (for an engine's own history, runs of the same
-- model string). Only acceptances count: nightly (or other suites') passes and manual accepts,
-- never a gate's approval (gate_approvals) nor a gate's automatic acceptance from before gate
-- approvals existed. One row per (engine_name, baseline), with the
-- fingerprints of both sides for the "what changed" detail.
with this_run as (
    select started_at from runs where run_id = $run_id
),
wanted as (
    select unnest($engines) as engine_name, unnest($sources) as source_name
),
current_models as (
    select s.engine_name, e.model
    from v_run_engine_status as s
    join engines as e using (engine_id)
    where s.run_id = $run_id
),
accepted as (
    select w.engine_name, w.source_name, a.run_id as baseline_run_id, a.engine_id as baseline_engine_id,
           a.manual, a.pinned, a.accepted_by, a.reason, a.accepted_at, a.suite as accepted_suite
    from wanted as w
    join baseline_acceptances as a on a.engine_name = w.source_name
    join runs as r on r.run_id = a.run_id
    join engines as base on base.engine_id = a.engine_id
    left join current_models as m on m.engine_name = w.engine_name
    where a.run_id <> $run_id
      and (a.manual or a.suite is distinct from 'gate')
      and r.started_at < (select started_at from this_run)
      -- an engine config's own history is that of its model: configs sharing a store may each
      -- name an engine 'vllm-fp32' for another model (the embedded default and the demo
      -- cross-encoder's config do); a gate's candidate is still held to its baseline's history
      and (w.engine_name <> w.source_name or m.model is null or base.model = m.model)
),
chosen as (
    (select 'last' as baseline, * from accepted
     qualify row_number() over (partition by engine_name order by accepted_at desc) = 1)
    union all
    (select 'pinned' as baseline, * from accepted where pinned
     qualify row_number() over (partition by engine_name order by accepted_at desc) = 1)
)
select c.*, current_engine.engine_id, current_fp.fingerprint, base_fp.fingerprint as baseline_fingerprint
from chosen as c
left join v_run_engine_status as current_engine
       on current_engine.run_id = $run_id and current_engine.engine_name = c.engine_name
left join engines as current_fp on current_fp.engine_id = current_engine.engine_id
left join engines as base_fp on base_fp.engine_id = c.baseline_engine_id
order by c.engine_name, c.baseline

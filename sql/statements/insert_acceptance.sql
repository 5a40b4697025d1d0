-- Accept one engine config of a run (Store.accept_run). Pinned: a manual accept, or the first
-- acceptance of the engine name (a gate's automatic acceptance from before gate_approvals
-- existed is no baseline: q_history_baselines). The engine must have succeeded in the run.
insert into baseline_acceptances (run_id, engine_name, engine_id, suite, manual, pinned,
                                  accepted_by, reason, accepted_at)
select s.run_id, s.engine_name, s.engine_id, $suite, $manual,
       $manual or not exists (select 1 from baseline_acceptances as a
                              where a.engine_name = s.engine_name
                                and (a.manual or a.suite is distinct from 'gate')),
       $accepted_by, $reason, $accepted_at
from v_run_engine_status as s
where s.run_id = $run_id
  and s.engine_name = $engine_name
  and s.status = 'succeeded'

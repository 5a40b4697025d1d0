-- Accept one engine config of a run (Store.accept_run). Pinned: a manual accept, or the first
-- acceptance of the engine name (a gate's automatic acceptance from before gate_approvals
-- existed is no baseline: q_history_baselines). The engine must have succeeded in the run.
-- Nothing is inserted when the engine's newest baseline acceptance is already this run (for
-- a manual accept: a pinned one), so accepting a run twice records it once; accepting an
-- older run after a newer one (a roll back) is recorded.
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
  and not exists (select 1
                  from (select a.run_id, a.pinned
                        from baseline_acceptances as a
                        where a.engine_name = s.engine_name
                          and (a.manual or a.suite is distinct from 'gate')
                        order by a.accepted_at desc
                        limit 1) as newest
                  where newest.run_id = s.run_id
                    and (newest.pinned or not $manual))

-- Record one candidate of a passing gate run as approved in that run (Store.approve_gate_run);
-- it must have succeeded in the run (its fingerprint). Judging the run again adds nothing.
insert into gate_approvals (run_id, engine_name, engine_id, baseline_engine_name, suite,
                            approved_by, reason, approved_at)
select s.run_id, s.engine_name, s.engine_id, $baseline, $suite, $approved_by, $reason,
       $approved_at
from v_run_engine_status as s
where s.run_id = $run_id
  and s.engine_name = $engine_name
  and s.status = 'succeeded'
  and not exists (select 1 from gate_approvals as g
                  where g.run_id = s.run_id and g.engine_name = s.engine_name)

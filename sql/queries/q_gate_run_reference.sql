-- The reference (baseline engine) of $run_id if it is a gate run: the upgrade-gate flow's, or
-- judged by the gate suite. `rerankwatch baseline accept` promotes its candidates by default.
select r.config ->> 'reference' as reference
from v_runs as r
where r.run_id = $run_id
  and (r.flow = 'gate'
       or exists (select 1 from verdicts as v where v.run_id = r.run_id and v.suite = 'gate'))

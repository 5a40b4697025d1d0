-- Every run with its flow in one short word (the history views' `flow` column): nightly, gate
-- (upgrade-gate), score (score-matrix), replay (replay:<name>, replay:nights:<n>); any other
-- flow name as it is. A resumed run keeps its flow_name, so its flow.
create or replace view v_runs as
select r.run_id, r.flow_name,
       case
           when r.flow_name = 'nightly' then 'nightly'
           when r.flow_name = 'upgrade-gate' then 'gate'
           when r.flow_name in ('score-matrix', 'score-engine') then 'score'
           when r.flow_name like 'replay:%' then 'replay'
           else r.flow_name
       end as flow,
       r.flow_run_id, r.started_at, r.finished_at, r.status, r.error, r.config
from runs as r

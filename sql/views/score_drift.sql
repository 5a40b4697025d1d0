-- Per pair and engine name, its main score over nightly runs: the change since that engine
-- name's previous nightly run and against the run's reference engine (score_drift_all_flows,
-- whose `flow` column holds the other flows: gate, score, replay, ...).
create or replace view score_drift as
select *
from score_drift_all_flows
where flow = 'nightly'

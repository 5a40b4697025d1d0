-- Per finished nightly run, night and engine name: max and p99 |Δ| score against the run's
-- reference engine (engine_agreement_history_all_flows, whose `flow` column holds the other
-- flows: gate, score, replay, ...).
create or replace view engine_agreement_history as
select *
from engine_agreement_history_all_flows
where flow = 'nightly'

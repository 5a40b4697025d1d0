-- Per pair, engine name and run of any flow, its main score over time: the change since that
-- engine name's previous run of the same flow (v_runs.flow: the latest earlier run of that flow
-- in which it succeeded; delta_prev is null when that run did not score the pair) and against
-- the run's reference engine (delta_reference; the reference is runs.config->>'reference').
-- Read from run_drift, the rows each run's finish writes (sql/statements/insert_run_drift.sql):
-- a run appears once it finishes (again after a resume), and a year of history is one scan,
-- not a join of every run with the one before. score_drift is this view's nightly rows.
create or replace view score_drift_all_flows as
select d.pair_id, d.set_id, d.query_id, d.doc_id, d.engine_name, d.engine_id, d.run_id,
       r.flow, r.started_at, d.score, d.previous_run_id, d.previous_score, d.delta_prev,
       d.fingerprint_changed, d.reference, d.reference_score, d.delta_reference
from run_drift as d
join v_runs as r using (run_id)

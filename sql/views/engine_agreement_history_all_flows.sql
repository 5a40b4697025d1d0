-- Per finished run of any flow (v_runs.flow), night (UTC date of runs.started_at) and engine
-- name: max and p99 |Δ| score against that run's reference engine over the main-variant pairs
-- both scored. Reads the per-run summaries finish_run writes (run_agreement), not a year of
-- scores: a run still running (or killed before it finished) shows up once it finishes or is
-- resumed. engine_agreement_history is this view's nightly rows.
create or replace view engine_agreement_history_all_flows as
select cast(timezone('UTC', r.started_at) as date) as night, a.run_id, r.flow, r.started_at,
       a.reference, a.engine_name, a.shared_pairs, a.max_abs_delta, a.p99_abs_delta
from run_agreement as a
join v_runs as r using (run_id)

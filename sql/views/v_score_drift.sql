-- Per pair and engine name, its main score over time: the change since that engine name's
-- previous run on the pair (delta_prev) and against the run's reference engine
-- (delta_reference; the reference is runs.config->>'reference').
create or replace view score_drift as
with main_scores as (
    select s.run_id, s.engine_name, s.engine_id, s.pair_id, s.score
    from scores as s
    where s.variant = 'main'
),
timed as (
    select m.*, r.started_at, r.config ->> 'reference' as reference
    from main_scores as m
    join runs as r using (run_id)
),
with_reference as (
    select t.*, ref.score as reference_score
    from timed as t
    left join main_scores as ref
        on ref.run_id = t.run_id
       and ref.pair_id = t.pair_id
       and ref.engine_name = t.reference
),
with_previous as (
    select w.*,
           lag(w.run_id) over history as previous_run_id,
           lag(w.engine_id) over history as previous_engine_id,
           lag(w.score) over history as previous_score
    from with_reference as w
    window history as (partition by w.engine_name, w.pair_id order by w.started_at, w.run_id)
)
select w.pair_id, p.set_id, p.query_id, p.doc_id, w.engine_name, w.engine_id, w.run_id,
       w.started_at, w.score, w.previous_run_id, w.previous_score,
       w.score - w.previous_score as delta_prev,
       w.engine_id <> w.previous_engine_id as fingerprint_changed,
       w.reference, w.reference_score,
       w.score - w.reference_score as delta_reference
from with_previous as w
left join sample_pairs as p using (pair_id)

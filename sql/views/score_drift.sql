-- Per pair and engine name, its main score over time: the change since that engine name's
-- previous run (the latest earlier run in which it succeeded; delta_prev is null when that
-- run did not score the pair) and against the run's reference engine (delta_reference; the
-- reference is runs.config->>'reference'). Runs are paired first, then their scores by key
-- (not materialized), so a filter on run_id or engine_name reads only those runs' scores.
create or replace view score_drift as
with main_scores as not materialized (
    select run_id, engine_name, engine_id, pair_id, score
    from scores
    where variant = 'main'
),
run_order as (
    select run_id, started_at, config ->> 'reference' as reference,
           row_number() over (order by started_at, run_id) as run_seq
    from runs
),
engine_runs as (
    -- a config may be recorded more than once in a run; its last row is its status
    select e.engine_name, e.run_id, e.status, o.run_seq
    from run_engines as e
    join run_order as o using (run_id)
    qualify row_number() over (
        partition by e.run_id, e.engine_name order by e.recorded_at desc
    ) = 1
),
previous_run as (
    select cur.engine_name, cur.run_id, prev.run_id as previous_run_id
    from engine_runs as cur
    asof left join (select * from engine_runs where status = 'succeeded') as prev
        on prev.engine_name = cur.engine_name
       and prev.run_seq < cur.run_seq
)
select m.pair_id, p.set_id, p.query_id, p.doc_id, m.engine_name, m.engine_id, m.run_id,
       o.started_at, m.score, prev.run_id as previous_run_id, prev.score as previous_score,
       m.score - prev.score as delta_prev,
       m.engine_id <> prev.engine_id as fingerprint_changed,
       o.reference, ref.score as reference_score,
       m.score - ref.score as delta_reference
from main_scores as m
join run_order as o on o.run_id = m.run_id
left join previous_run as pr on pr.engine_name = m.engine_name and pr.run_id = m.run_id
left join main_scores as prev
    on prev.run_id = pr.previous_run_id
   and prev.engine_name = m.engine_name
   and prev.pair_id = m.pair_id
left join main_scores as ref
    on ref.run_id = m.run_id
   and ref.pair_id = m.pair_id
   and ref.engine_name = o.reference
left join sample_pairs as p on p.pair_id = m.pair_id

-- Per run night (UTC date of runs.started_at) and engine name: max and p99 |Δ| score
-- against that run's reference engine over the main-variant pairs both scored. Scores are
-- read where they are joined (not materialized once), so a filter on engine_name reads only
-- that engine's and the references' scores; runs are joined back after the aggregation.
create or replace view engine_agreement_history as
with run_reference as (
    select run_id, started_at, config ->> 'reference' as reference
    from runs
),
main_scores as not materialized (
    select run_id, engine_name, pair_id, score
    from scores
    where variant = 'main'
),
reference_scores as (
    select s.run_id, s.pair_id, s.engine_name as reference, s.score
    from main_scores as s
    semi join run_reference as r
        on r.run_id = s.run_id
       and r.reference = s.engine_name
),
per_run as (
    select m.run_id, m.engine_name, count(*) as shared_pairs,
           max(abs(m.score - ref.score)) as max_abs_delta,
           quantile_cont(abs(m.score - ref.score), 0.99) as p99_abs_delta
    from main_scores as m
    join reference_scores as ref
        on ref.run_id = m.run_id
       and ref.pair_id = m.pair_id
    where m.engine_name <> ref.reference
    group by m.run_id, m.engine_name
)
select cast(timezone('UTC', r.started_at) as date) as night, p.run_id, r.started_at,
       r.reference, p.engine_name, p.shared_pairs, p.max_abs_delta, p.p99_abs_delta
from per_run as p
join run_reference as r using (run_id)

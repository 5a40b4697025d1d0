-- Per run night (UTC date of runs.started_at) and engine name: max and p99 |Δ| score
-- against that run's reference engine over the main-variant pairs both scored.
create or replace view engine_agreement_history as
with main_scores as (
    select run_id, engine_name, pair_id, score
    from scores
    where variant = 'main'
),
run_reference as (
    select run_id, started_at, config ->> 'reference' as reference
    from runs
),
shared as (
    select r.run_id, r.started_at, r.reference, m.engine_name, m.pair_id,
           abs(m.score - ref.score) as abs_delta
    from main_scores as m
    join run_reference as r using (run_id)
    join main_scores as ref
        on ref.run_id = m.run_id
       and ref.pair_id = m.pair_id
       and ref.engine_name = r.reference
    where m.engine_name <> r.reference
)
select cast(timezone('UTC', started_at) as date) as night, run_id, started_at, reference,
       engine_name, count(*) as shared_pairs,
       max(abs_delta) as max_abs_delta,
       quantile_cont(abs_delta, 0.99) as p99_abs_delta
from shared
group by all

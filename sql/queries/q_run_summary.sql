-- Per engine in one run: pairs, mean score, mean |Δ| against the reference engine, pairs/s.
with run_scores as (
    select engine_name, pair_id, score, latency_ms
    from scores
    where run_id = $run_id and variant = 'main'
),
reference as (
    select pair_id, score as reference_score
    from run_scores
    where engine_name = $reference
),
per_engine as (
    select r.engine_name,
           count(*) as pairs,
           avg(r.score) as mean_score,
           avg(abs(r.score - ref.reference_score)) as mean_abs_delta,
           count(*) / nullif(sum(r.latency_ms) / 1000.0, 0) as pairs_per_s
    from run_scores as r
    left join reference as ref using (pair_id)
    group by r.engine_name
)
select e.engine_name as engine, e.status, coalesce(p.pairs, 0) as pairs, p.mean_score,
       p.mean_abs_delta, p.pairs_per_s, e.error
from v_run_engine_status as e
left join per_engine as p using (engine_name)
where e.run_id = $run_id
order by e.engine_name = $reference desc, e.engine_name

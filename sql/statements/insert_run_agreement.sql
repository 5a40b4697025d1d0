-- One run's agreement rows into run_agreement (after delete_run_agreement: Store.summarize_run):
-- each engine name's |Δ| score against the run's reference engine over the main-variant pairs
-- both scored ($run_id filters every scan).
insert into run_agreement by name
with reference as (
    select config ->> 'reference' as reference
    from runs
    where run_id = $run_id
),
main_scores as (
    select engine_name, pair_id, score
    from scores
    where run_id = $run_id
      and variant = 'main'
),
reference_scores as (
    select s.pair_id, s.score
    from main_scores as s
    semi join reference as r
        on r.reference = s.engine_name
)
select $run_id as run_id, m.engine_name, r.reference, count(*) as shared_pairs,
       max(abs(m.score - ref.score)) as max_abs_delta,
       quantile_cont(abs(m.score - ref.score), 0.99) as p99_abs_delta
from main_scores as m
join reference_scores as ref using (pair_id)
cross join reference as r
where m.engine_name <> r.reference
group by m.engine_name, r.reference

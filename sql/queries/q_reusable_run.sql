-- The latest run whose main scores by one fingerprint cover every requested pair.
with covered as (
    select s.run_id, count(distinct s.pair_id) as pairs
    from scores as s
    join run_engines as e on e.run_id = s.run_id and e.engine_id = s.engine_id
    where s.engine_id = $engine_id
      and s.variant = 'main'
      and e.status = 'succeeded'
      and list_contains($pair_ids, s.pair_id)
    group by s.run_id
)
select covered.run_id
from covered
join runs using (run_id)
where covered.pairs = $n
order by runs.started_at desc
limit 1

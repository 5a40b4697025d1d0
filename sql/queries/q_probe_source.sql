-- The latest other run holding a score of fingerprint $engine_id for every wanted pair (the
-- relation `wanted`, $n pairs, registered by Store.reuse_probes) in each of $variants.
with covered as (
    select s.run_id, s.variant, count(distinct s.pair_id) as pairs, max(s.scored_at) as last_scored
    from scores as s
    semi join wanted using (pair_id)
    where s.engine_id = $engine_id and s.run_id <> $run_id and list_contains($variants, s.variant)
    group by all
)
select run_id
from covered
group by run_id
having count(*) = len($variants) and min(pairs) = $n
order by max(last_scored) desc, run_id
limit 1

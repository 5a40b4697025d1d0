-- The pair columns a suite reads, for every pair with a main score in one run.
with scored as (
    select pair_id
    from scores
    where run_id = $run_id
      and variant = 'main'
)
select p.pair_id, p.set_id, p.query_id, p.query, p.doc_id, p.doc, p.label, p.ladder,
       p.ladder_rank, p.known_irrelevant
from sample_pairs as p
semi join scored using (pair_id)

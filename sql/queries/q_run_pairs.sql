-- The stored sample pairs one run covers, in set, query and doc order.
with covered as (
    select pair_id
    from run_pairs
    where run_id = $run_id
)
select p.* exclude (first_loaded_at)
from sample_pairs as p
semi join covered using (pair_id)
order by p.set_id, p.query_id, p.doc_id

-- The pair columns a suite reads, for the pairs one run covers (run_pairs; a run recorded
-- before run_pairs existed: the pairs its main scores hold): ids, label and ladder columns; no
-- document text, and the query text only where a check shows it (the known-irrelevant pairs
-- irrelevant_ceiling lists). Text is what makes a frame grow with the set (issue 31): a check
-- that needs more text asks for it here. pair_key (the pair id's 64-bit hash) is what the
-- store lines each engine's scores up with, so scores cross over without their pair ids.
-- The pairs come in the order the run recorded them (an engine config is given them in that
-- order, so the store lines its scores up without a join; a legacy run: the order of its main
-- scores).
with covered as (
    select pair_id, rowid as at from run_pairs where run_id = $run_id
    union all
    select pair_id, min(rowid) as at from scores
    where run_id = $run_id and variant = 'main' and $scored
    group by pair_id
)
select hash(p.pair_id) as pair_key, p.pair_id, p.set_id, p.query_id,
       case when p.known_irrelevant then p.query end as query,
       p.doc_id, p.label, p.ladder, p.ladder_rank, p.known_irrelevant
from covered as c
join sample_pairs as p using (pair_id)
order by c.at

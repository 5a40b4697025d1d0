-- The pair columns a suite reads, for the pairs of the relation `wanted` (the pair ids a run's
-- main scores hold, registered by Store.suite_frames): ids, label and ladder columns; no
-- document text, and the query text only where a check shows it (the known-irrelevant pairs
-- irrelevant_ceiling lists). Text is what makes a frame grow with the set (issue 31): a check
-- that needs more text asks for it here.
select p.pair_id, p.set_id, p.query_id,
       case when p.known_irrelevant then p.query end as query,
       p.doc_id, p.label, p.ladder, p.ladder_rank, p.known_irrelevant
from sample_pairs as p
semi join wanted using (pair_id)

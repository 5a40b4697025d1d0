-- One run's latest verdicts: a resumed run is judged again, and its latest judgement counts
-- (each judgement is written in one transaction, so its rows share decided_at).
select *
from verdicts
where run_id = $run_id
qualify decided_at = max(decided_at) over ()

-- The most recent run that reached a verdict.
with judged as (
    select distinct run_id
    from verdicts
)
select runs.run_id
from runs
join judged using (run_id)
order by runs.started_at desc
limit 1

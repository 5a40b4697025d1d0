-- Every upgrade-gate verdict: baseline (the suite's reference) against its candidate.
create or replace view upgrade_decisions as
with gate as (
    select run_id, decided_at, reference, candidates, verdict, failing_checks
    from verdicts
    where suite = 'gate'
)
select run_id, decided_at, reference as baseline, candidates[1] as candidate, verdict,
       failing_checks
from gate

-- One run's main scores with their pair and fingerprint columns (what a report plots).
select *
from v_run_scores
where run_id = $run_id

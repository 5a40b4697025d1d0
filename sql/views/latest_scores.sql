-- "What does X score today": per engine fingerprint, the main scores of the latest nightly run
-- in which that engine_id succeeded, with the pair and fingerprint columns. Nightly runs only:
-- a gate's candidate (approved or rejected) is not today's score; latest_scores_all_flows
-- holds the latest run of every flow (filter on its `flow` column).
create or replace view latest_scores as
select *
from latest_scores_all_flows
where flow = 'nightly'

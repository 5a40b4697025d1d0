-- The main scores of the accepted runs q_history_baselines chose: the rows of every run of
-- $runs by every engine name of $sources (what the suite looks up is (baseline_run_id,
-- source_name) of those lists, pairwise; in a nightly that is all of them). A filter, not a
-- join: the rows keep their stored order, so an engine's history lines up with tonight's
-- scores of the same pairs and the checks put them side by side without a join (issue 31).
select s.run_id as baseline_run_id, s.engine_name as source_name, s.pair_id, s.score, s.logit,
       s.input_tokens, s.token_hash
from scores as s
where s.variant = 'main'
  and list_contains($runs, s.run_id)
  and list_contains($sources, s.engine_name)

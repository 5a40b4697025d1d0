-- The main-score token samples (ids and token strings) of the runs $runs: a run and the
-- accepted runs its engines are held to (the tokenization check shows where ids differ).
select run_id, engine_name, pair_id, ids, tokens
from token_samples
where list_contains($runs, run_id)
  and variant = 'main'

-- Re-scores taken to judge an engine: a fresh reload, and (cross-encoders) swapped arguments.
create or replace view v_probe_scores as
select run_id, engine_name, engine_id, pair_id, variant, logit, score
from scores
where variant <> 'main'

-- Re-scores taken to judge an engine: repeat (same load) and reload (fresh load) of a small
-- probe, and (cross-encoders) swapped arguments.
create or replace view v_probe_scores as
select run_id, engine_name, engine_id, pair_id, variant, logit, score
from scores
where variant <> 'main'

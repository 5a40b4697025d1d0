-- The run each spot-probed main score of run $run_id was copied from (reused_from_run), per
-- (engine_name, pair_id) of the run's spot re-scores (cache_spot_check names it).
with spot as (
    select engine_name, pair_id
    from scores
    where run_id = $run_id
      and variant = 'spot'
)
select s.engine_name, s.pair_id, s.reused_from_run as copied_from
from scores as s
semi join spot using (engine_name, pair_id)
where s.run_id = $run_id
  and s.variant = 'main'

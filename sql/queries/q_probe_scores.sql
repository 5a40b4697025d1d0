-- One run's probe scores (repeat, reload, swapped, batch variants, spot), as a suite reads
-- them; a spot re-score names the run its copied main score came from (copied_from).
with probes as (
    select *
    from v_probe_scores
    where run_id = $run_id
),
copied as (
    select s.engine_name, s.pair_id, s.reused_from_run
    from scores as s
    semi join (select engine_name, pair_id from probes where variant = 'spot')
        using (engine_name, pair_id)
    where s.run_id = $run_id
      and s.variant = 'main'
)
select p.*, c.reused_from_run as copied_from
from probes as p
left join copied as c
    on p.variant = 'spot' and c.engine_name = p.engine_name and c.pair_id = p.pair_id

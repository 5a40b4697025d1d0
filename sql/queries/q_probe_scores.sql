-- One run's probe scores (repeat, reload, swapped, batch variants, spot), as a suite reads
-- them; a spot re-score names the run its copied main score came from (copied_from).
-- The main scores looked up are those of spot-probed engines and pairs (IN filters, then the
-- exact match in the left join): without spot probes, nothing is joined (issue 31: a semi
-- join on (engine_name, pair_id) probed every main score of the run, 0.3 s per 4 M).
with probes as (
    select *
    from v_probe_scores
    where run_id = $run_id
),
spot as (
    select engine_name, pair_id
    from probes
    where variant = 'spot'
),
copied as (
    select s.engine_name, s.pair_id, s.reused_from_run
    from scores as s
    where s.run_id = $run_id
      and s.variant = 'main'
      and s.engine_name in (select engine_name from spot)
      and s.pair_id in (select pair_id from spot)
)
select p.*, c.reused_from_run as copied_from
from probes as p
left join copied as c
    on p.variant = 'spot' and c.engine_name = p.engine_name and c.pair_id = p.pair_id

-- Main scores of one engine config in a run that were copied from earlier runs, each with the
-- batch it was scored in (the run that scored it, its batch_index) and whether every pair of
-- that batch was copied (whole): the spot check re-scores whole batches, so that an engine
-- whose scores depend on the company in a batch (int8 dynamic quantization, kernels chosen
-- per shape) meets the same company again and reproduces its scores exactly.
with copied as (
    select pair_id, reused_from_run, batch_index
    from scores
    where run_id = $run_id
      and engine_name = $engine_name
      and variant = 'main'
      and reused_from_run is not null
),
batches as (
    select reused_from_run, batch_index, count(*) as copied
    from copied
    group by all
),
scored as (
    select s.run_id as reused_from_run, s.batch_index, count(distinct s.pair_id) as pairs
    from scores as s
    semi join batches as b
        on s.run_id = b.reused_from_run and s.batch_index = b.batch_index
    where s.engine_id = $engine_id
      and s.variant = 'main'
      and s.reused_from_run is null
    group by all
)
select c.pair_id, c.reused_from_run, c.batch_index,
       coalesce(b.copied = o.pairs, false) as whole
from copied as c
join batches as b using (reused_from_run, batch_index)
left join scored as o using (reused_from_run, batch_index)
order by c.reused_from_run, c.batch_index, c.pair_id

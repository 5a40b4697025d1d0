-- With Store.reuse_pairs: the token samples of the $variant scores just copied into run $run_id
-- as engine config $engine_name (the wanted pairs, whose scores name the run that scored them
-- in reused_from_run), copied from that run's samples by the same fingerprint; samples the run
-- already holds are kept.
insert into token_samples by name
with copied as (
    select s.pair_id, s.engine_id, s.reused_from_run
    from scores as s
    semi join wanted using (pair_id)
    where s.run_id = $run_id and s.engine_name = $engine_name and s.variant = $variant
      and s.reused_from_run is not null
),
source as (
    select t.*
    from token_samples as t
    join copied as c
      on t.run_id = c.reused_from_run and t.engine_id = c.engine_id and t.pair_id = c.pair_id
    where t.variant = $variant
    qualify row_number() over (partition by t.pair_id order by t.engine_name) = 1
),
present as (
    select pair_id
    from token_samples
    where run_id = $run_id and engine_name = $engine_name and variant = $variant
)
select $run_id as run_id, $engine_name as engine_name, engine_id, pair_id, variant, ids, tokens,
       run_id as copied_from_run
from source
anti join present using (pair_id)

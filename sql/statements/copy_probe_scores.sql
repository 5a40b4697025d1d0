-- Copy the $variants probe scores of the wanted pairs (the relation `wanted`, registered by
-- Store.reuse_probes) from run $source (q_probe_source) into run $run_id as engine config
-- $engine_name, the first score per variant and pair.
insert into scores by name
with source as (
    select s.*
    from scores as s
    semi join wanted using (pair_id)
    where s.run_id = $source and s.engine_id = $engine_id and list_contains($variants, s.variant)
    qualify row_number() over (partition by s.variant, s.pair_id order by s.scored_at) = 1
)
select $run_id as run_id, $engine_name as engine_name, engine_id, pair_id, variant, logit,
       score, activation, tokens, input_tokens, token_hash, batch_index, latency_ms, scored_at,
       coalesce(reused_from_run, run_id) as reused_from_run
from source

-- Per run, engine config and pair: where the ids the model saw (scores.token_hash) differ from
-- those of the engine config's last accepted run before it, with both counts. The accepted run
-- is chosen as q_history_baselines chooses an engine config's own "last" baseline: its latest
-- acceptance (a suite's pass or a manual accept, never a gate's) of a run that started earlier,
-- for the same model. Pairs either side scored without ids are left out.
create or replace view token_changes as
with engine_runs as (
    select s.run_id, s.engine_name, e.model, r.started_at
    from v_run_engine_status as s
    join runs as r using (run_id)
    join engines as e using (engine_id)
),
baseline as (
    select er.run_id, er.engine_name, a.run_id as baseline_run_id
    from engine_runs as er
    join baseline_acceptances as a on a.engine_name = er.engine_name
    join runs as ar on ar.run_id = a.run_id
    join engines as base on base.engine_id = a.engine_id
    where a.run_id <> er.run_id
      and (a.manual or a.suite is distinct from 'gate')
      and ar.started_at < er.started_at
      and base.model = er.model
    qualify row_number() over (partition by er.run_id, er.engine_name
                               order by a.accepted_at desc) = 1
)
select b.run_id, b.engine_name, s.pair_id, b.baseline_run_id,
       s.input_tokens, p.input_tokens as baseline_input_tokens,
       s.token_hash, p.token_hash as baseline_token_hash
from baseline as b
join scores as s
  on s.run_id = b.run_id and s.engine_name = b.engine_name and s.variant = 'main'
join scores as p
  on p.run_id = b.baseline_run_id and p.engine_name = b.engine_name and p.variant = 'main'
 and p.pair_id = s.pair_id
where s.token_hash <> p.token_hash

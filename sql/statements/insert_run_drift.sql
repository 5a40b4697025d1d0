-- One run's rows into run_drift (after delete_run_drift: Store.summarize_run). Per pair and
-- engine name: the change since that engine name's previous run of the same flow (v_runs.flow:
-- the latest earlier run of that flow, by started_at, in which it succeeded, so a nightly is
-- never compared with a gate's scores; delta_prev is null when that run did not score the pair)
-- and against the run's reference engine (runs.config->>'reference'). Scores are read for
-- $run_id and the previous runs it pairs with only.
insert into run_drift by name
with run_order as (
    select run_id, flow, started_at, config ->> 'reference' as reference,
           row_number() over (order by started_at, run_id) as run_seq
    from v_runs
),
engine_runs as (
    -- a config may be recorded more than once in a run; its last row is its status
    select e.engine_name, e.run_id, e.status, o.flow, o.run_seq
    from run_engines as e
    join run_order as o using (run_id)
    qualify row_number() over (
        partition by e.run_id, e.engine_name order by e.recorded_at desc
    ) = 1
),
previous_run as (
    select cur.engine_name, prev.run_id as previous_run_id
    from (select * from engine_runs where run_id = $run_id) as cur
    asof left join (select * from engine_runs where status = 'succeeded') as prev
        on prev.engine_name = cur.engine_name
       and prev.flow = cur.flow
       and prev.run_seq < cur.run_seq
),
this_run as (
    select engine_name, engine_id, pair_id, score
    from scores
    where run_id = $run_id
      and variant = 'main'
),
previous_scores as (
    select s.engine_name, s.engine_id, s.pair_id, s.score
    from scores as s
    join previous_run as pr
        on pr.previous_run_id = s.run_id
       and pr.engine_name = s.engine_name
    where s.run_id in (select previous_run_id from previous_run)
      and s.variant = 'main'
)
select $run_id as run_id, m.engine_name, m.engine_id, m.pair_id, p.set_id, p.query_id,
       p.doc_id, m.score, pr.previous_run_id,
       prev.score as previous_score, m.score - prev.score as delta_prev,
       m.engine_id <> prev.engine_id as fingerprint_changed,
       o.reference, ref.score as reference_score, m.score - ref.score as delta_reference
from this_run as m
join run_order as o on o.run_id = $run_id
left join previous_run as pr on pr.engine_name = m.engine_name
left join previous_scores as prev
    on prev.engine_name = m.engine_name
   and prev.pair_id = m.pair_id
left join this_run as ref
    on ref.pair_id = m.pair_id
   and ref.engine_name = o.reference
left join sample_pairs as p on p.pair_id = m.pair_id

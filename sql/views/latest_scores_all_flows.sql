-- Per engine fingerprint and flow (v_runs.flow: nightly, gate, score, replay, ...), the main
-- scores of the latest run (by started_at) of that flow in which that engine_id succeeded, with
-- the pair and fingerprint columns. latest_scores is this view's nightly rows.
create or replace view latest_scores_all_flows as
with engine_status as (
    -- a config may be recorded more than once in a run; its last row is its status
    select run_id, engine_name, engine_id, status
    from run_engines
    qualify row_number() over (partition by run_id, engine_name order by recorded_at desc) = 1
),
succeeded as (
    select s.run_id, s.engine_name, s.engine_id, r.flow, r.started_at
    from engine_status as s
    join v_runs as r using (run_id)
    where s.status = 'succeeded'
      and s.engine_id is not null
),
latest_run as (
    select engine_id, flow, run_id, started_at
    from succeeded
    qualify row_number() over (
        partition by engine_id, flow order by started_at desc, run_id desc
    ) = 1
),
latest as (
    select succeeded.run_id, succeeded.engine_name, succeeded.engine_id, succeeded.flow,
           succeeded.started_at
    from succeeded
    join latest_run using (engine_id, flow, run_id)
)
select l.engine_id, l.engine_name, l.run_id, l.flow, l.started_at, s.pair_id,
       p.set_id, p.query_id, p.doc_id, p.label, p.known_irrelevant, p.ladder, p.ladder_rank,
       s.logit, s.score, s.activation, e.kind, e.model, e.dtype
from latest as l
join scores as s using (run_id, engine_name, engine_id)
join sample_pairs as p using (pair_id)
join engines as e using (engine_id)
where s.variant = 'main'

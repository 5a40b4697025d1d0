-- Each engine config of a run with its status and (when it loaded) its fingerprint columns.
create or replace view v_run_engine_status as
with latest as (
    select *
    from run_engines
    qualify row_number() over (partition by run_id, engine_name order by recorded_at desc) = 1
)
select l.run_id, l.engine_name, l.engine_id, l.status, l.error, l.pairs, l.score_seconds,
       l.load_warnings, l.reused_from_run, l.scored_pairs, l.reused_pairs,
       l.host, l.flow_run_id, l.work_pool, l.worker,
       e.kind, e.model, e.dtype, e.device, e.pooling, e.max_length, e.activation,
       e.weights_sha256, e.files_sha256, e.revision, e.versions
from latest as l
left join engines as e using (engine_id)

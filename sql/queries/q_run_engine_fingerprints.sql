-- Each engine config of one run with its latest status and its whole stored fingerprint (null
-- for one that never loaded): what a CI report lists of the engines it judged.
with engine_status as (
    select *
    from v_run_engine_status
    where run_id = $run_id
)
select s.engine_name, s.engine_id, s.status, s.error, s.pairs, s.score_seconds,
       s.reused_from_run, e.fingerprint
from engine_status as s
left join engines as e using (engine_id)
order by s.engine_name

-- Agreement with the reference and distance from the accepted history, per engine, over the
-- last $nights judged runs up to a given run that share its flow (v_runs.flow: a nightly's
-- trend reads nightly runs only, a gate's candidate never appears in it; the nights of a replay
-- are one flow), reference and engine configs.
with this as (
    select flow, (config->>'reference') as reference,
           (config->'engines')::varchar as engines, started_at
    from v_runs
    where run_id = $run_id
),
recent as (
    select r.run_id, r.started_at
    from v_runs as r, this
    where r.run_id in (select run_id from verdicts)
      and r.started_at <= this.started_at
      and r.flow = this.flow
      and (r.config->>'reference') is not distinct from this.reference
      and (r.config->'engines')::varchar is not distinct from this.engines
    order by r.started_at desc
    limit $nights
)
select recent.started_at, c.run_id, c.check_name, c.engine_name, c.subject, c.observed,
       c.threshold
from check_results as c
join recent using (run_id)
where (c.check_name = 'engine_agreement'
       and c.subject in ('score_max_abs_delta', 'score_p99_abs_delta', 'logit_max_abs_delta'))
   or (c.check_name = 'history_baseline' and c.observed is not null)
qualify c.recorded_at = max(c.recorded_at) over (partition by c.run_id)
order by recent.started_at, c.check_name, c.engine_name, c.subject

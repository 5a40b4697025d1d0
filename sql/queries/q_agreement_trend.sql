-- Agreement metrics per engine over the last $nights judged runs up to a given run.
with recent as (
    select run_id, started_at
    from runs
    where run_id in (select run_id from verdicts)
      and started_at <= (select started_at from runs where run_id = $run_id)
    order by started_at desc
    limit $nights
)
select recent.started_at, c.run_id, c.engine_name, c.subject, c.observed, c.threshold
from check_results as c
join recent using (run_id)
where c.check_name = 'engine_agreement'
  and c.subject in ('score_max_abs_delta', 'score_p99_abs_delta', 'logit_max_abs_delta')
order by recent.started_at, c.engine_name, c.subject

-- Engine configs of $run_id (among $engines) whose newest history-baseline acceptance is
-- already this run, pinned: accepting the run again by hand would record nothing new
-- (`rerankwatch baseline accept` says who accepted it and when instead). Only acceptances
-- that are baselines count (manual, or a suite other than a gate's: q_history_baselines).
with newest as (
    select a.engine_name, a.run_id, a.pinned, a.accepted_by, a.accepted_at
    from baseline_acceptances as a
    where a.engine_name in (select unnest($engines))
      and (a.manual or a.suite is distinct from 'gate')
    qualify row_number() over (partition by a.engine_name order by a.accepted_at desc) = 1
)
select engine_name, accepted_by, accepted_at
from newest
where run_id = $run_id
  and pinned
order by engine_name

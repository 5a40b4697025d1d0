-- Every acceptance of an engine config's scores as its history baseline: automatic (its suite
-- passed) or manual (`rerankwatch baseline accept`, with who and why), newest first.
create or replace view baseline_history as
select a.accepted_at, a.engine_name, a.run_id, a.engine_id,
       case when a.manual then 'manual' else 'suite passed' end as how,
       a.pinned, a.accepted_by, a.reason, a.suite, r.started_at as run_started_at,
       e.kind, e.model, e.dtype, e.weights_sha256, e.versions
from baseline_acceptances as a
left join runs as r using (run_id)
left join engines as e using (engine_id)
order by a.accepted_at desc

-- One engine config's main scores in one run: how many, their scoring seconds, how many this
-- run scored itself (by any attempt: a resume adds to what the killed attempts committed) and
-- how many it copied from other runs, and from how many runs (source: one of them). scored +
-- reused = pairs, whatever sequence of kills and resumes stored them.
select count(*) as pairs,
       sum(latency_ms) / 1000.0 as seconds,
       count(*) filter (where reused_from_run is null) as scored,
       count(reused_from_run) as reused,
       min(reused_from_run) as source,
       count(distinct reused_from_run) as sources
from scores
where run_id = $run_id
  and engine_name = $engine_name
  and variant = 'main'

-- One run's probe scores as a suite reads them: q_probe_scores' rows, and of its columns those
-- a check reads (no run_id, no engine_id: a suite judges one run, and 5.6 M probe rows of 10 M
-- pairs x 4 carried them as 0.6 GiB of text; issue 31). copied_from is filled by
-- Store.probe_frames from q_spot_copies, only when the run has spot re-scores: looking the
-- copies up in SQL probed every main score of the run, spot probes or not
-- (0.9 s of hash join for 4 M main scores and no spot probe on DuckDB 1.5.5; issue 31).
select engine_name, pair_id, variant, logit, score, null::varchar as copied_from
from v_probe_scores
where run_id = $run_id

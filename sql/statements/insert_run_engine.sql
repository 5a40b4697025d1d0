-- Record an engine config's status in a run (its latest row counts: v_run_engine_status),
-- with where it was scored (host, flow run, work pool, worker).
insert into run_engines (run_id, engine_name, engine_id, status, error, pairs, score_seconds,
                         load_warnings, reused_from_run, scored_pairs, reused_pairs, host,
                         flow_run_id, work_pool, worker)
values ($run_id, $engine_name, $engine_id, $status, $error, $pairs, $score_seconds,
        $load_warnings, $reused_from_run, $scored_pairs, $reused_pairs, $host, $flow_run_id,
        $work_pool, $worker)

-- Record an engine config's status in a run (its latest row counts: v_run_engine_status).
insert into run_engines (run_id, engine_name, engine_id, status, error, pairs, score_seconds,
                         load_warnings, reused_from_run, scored_pairs, reused_pairs)
values ($run_id, $engine_name, $engine_id, $status, $error, $pairs, $score_seconds,
        $load_warnings, $reused_from_run, $scored_pairs, $reused_pairs)

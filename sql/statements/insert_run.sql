-- Open a run (status running) with its config; Store.start_run adds its run_pairs.
insert into runs (run_id, flow_name, flow_run_id, started_at, status, config, force)
values ($run_id, $flow_name, $flow_run_id, $started_at, 'running', $config, $force)

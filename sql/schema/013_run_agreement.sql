-- Per finished run and engine name: |Δ| score against the run's reference over the main-variant
-- pairs both scored. Written by Store.finish_run (sql/statements/insert_run_agreement.sql), so the
-- engine_agreement_history view reads one row per run instead of joining a year of scores.
create table if not exists run_agreement (
    run_id varchar not null,
    engine_name varchar not null,
    reference varchar not null,
    shared_pairs bigint not null,
    max_abs_delta double,
    p99_abs_delta double,
    summarized_at timestamptz not null default current_timestamp
)

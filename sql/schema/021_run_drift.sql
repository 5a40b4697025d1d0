-- Per finished run, engine name and pair: its main score, the change since that engine name's
-- previous succeeded run and against the run's reference engine. Written by Store.finish_run
-- (sql/statements/insert_run_drift.sql), so the score_drift view reads stored rows instead of
-- pairing a year of scores with the runs before them (a whole-history query: ~20 s at
-- 36.5 M scores before, well under a second from here).
create table if not exists run_drift (
    run_id varchar not null,
    engine_name varchar not null,
    engine_id varchar not null,
    pair_id varchar not null,
    set_id varchar,
    query_id varchar,
    doc_id varchar,
    score double,
    previous_run_id varchar,
    previous_score double,
    delta_prev double,
    fingerprint_changed boolean,
    reference varchar,
    reference_score double,
    delta_reference double,
    summarized_at timestamptz not null default current_timestamp
)

create table if not exists run_engines (
    run_id varchar not null,
    engine_name varchar not null,
    engine_id varchar,
    status varchar not null,
    error varchar,
    pairs integer,
    score_seconds double,
    load_warnings varchar[],
    reused_from_run varchar,
    recorded_at timestamptz not null default current_timestamp
)

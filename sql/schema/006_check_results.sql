create table if not exists check_results (
    run_id varchar not null,
    check_name varchar not null,
    engine_name varchar,
    other_engine_name varchar,
    subject varchar,
    status varchar not null,
    blocking boolean not null,
    observed double,
    threshold double,
    detail json,
    recorded_at timestamptz not null default current_timestamp
)

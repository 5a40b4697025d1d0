create table if not exists runs (
    run_id varchar primary key,
    flow_name varchar not null,
    flow_run_id varchar,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,
    error varchar,
    config json not null
)

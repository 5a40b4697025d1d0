-- Key: run_id, kept unique by the statements that insert (an anti join on it), not by a
-- constraint: a DuckLake table has none (stores created before keep their primary key).
create table if not exists runs (
    run_id varchar not null,
    flow_name varchar not null,
    flow_run_id varchar,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,
    error varchar,
    config json not null
)

create table if not exists verdicts (
    run_id varchar not null,
    suite varchar not null,
    verdict varchar not null,
    reference varchar not null,
    candidates varchar[] not null,
    failing_checks varchar[] not null,
    decided_at timestamptz not null default current_timestamp
)

create table if not exists scores (
    run_id varchar not null,
    engine_name varchar not null,
    engine_id varchar not null,
    pair_id varchar not null,
    variant varchar not null default 'main', -- main | repeat | reload | swapped
    logit double,
    score double,
    activation varchar not null,
    batch_index integer not null,
    latency_ms double not null,
    scored_at timestamptz not null default current_timestamp
)

-- The pairs a run covers, recorded when it starts: resume scores exactly these.
create table if not exists run_pairs (
    run_id varchar not null,
    pair_id varchar not null
)

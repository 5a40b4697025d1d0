-- Key: pair_id, kept unique by the statements that insert (an anti join on it), not by a
-- constraint: a DuckLake table has none (stores created before keep their primary key).
create table if not exists sample_pairs (
    pair_id varchar not null,
    set_id varchar not null,
    query_id varchar not null,
    query varchar not null,
    doc_id varchar not null,
    doc varchar not null,
    label double not null,
    tags varchar[] not null,
    lang varchar not null,
    ladder varchar,
    ladder_rank integer,
    known_irrelevant boolean not null,
    source_file varchar,
    first_loaded_at timestamptz not null default current_timestamp
)

-- Key: engine_id, kept unique by the statements that insert (an anti join on it), not by a
-- constraint: a DuckLake table has none (stores created before keep their primary key).
create table if not exists engines (
    engine_id varchar not null,
    kind varchar not null,
    model varchar not null,
    weights_sha256 varchar not null,
    dtype varchar not null,
    device varchar not null,
    pooling varchar not null,
    max_length integer not null,
    activation varchar not null,
    versions json not null,
    fingerprint json not null,
    first_seen_at timestamptz not null default current_timestamp
)

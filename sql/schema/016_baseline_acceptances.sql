-- Accepted runs, per engine config name: the history each later run of that name is held to
-- (history_baseline). A run is accepted when its suite passes (manual = false) or by hand,
-- `rerankwatch baseline accept` (manual = true: an intended change, with who and why).
-- pinned: a manual accept, or the first acceptance of its engine name; drift is also measured
-- against the last pinned one, so passing nights cannot walk the baseline away in small steps.
create table if not exists baseline_acceptances (
    run_id varchar not null,
    engine_name varchar not null,
    engine_id varchar not null,
    suite varchar,
    manual boolean not null,
    pinned boolean not null,
    accepted_by varchar not null,
    reason varchar,
    accepted_at timestamptz not null default current_timestamp
)

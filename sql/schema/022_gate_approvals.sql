-- Candidates a passing upgrade gate approved: "approved in gate run X". Not a history baseline:
-- a gate never moves the accepted baselines of the nightly engines (baseline_acceptances), and
-- the reference it was judged against gets no row. `rerankwatch baseline accept <gate run>`
-- promotes the candidate to a baseline by hand. Append-only; one row per (run_id,
-- engine_name), kept unique by insert_gate_approval.sql (an anti join: a DuckLake table has no
-- key).
create table if not exists gate_approvals (
    run_id varchar not null,
    engine_name varchar not null,
    engine_id varchar not null,
    baseline_engine_name varchar,
    suite varchar not null,
    approved_by varchar not null,
    reason varchar,
    approved_at timestamptz not null default current_timestamp
)

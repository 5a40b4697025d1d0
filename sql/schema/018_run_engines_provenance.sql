-- Where each engine config was scored: the host, and under Prefect the flow run, work pool
-- and worker (null outside a flow, or where the flow run has none).
alter table run_engines add column if not exists host varchar;
alter table run_engines add column if not exists flow_run_id varchar;
alter table run_engines add column if not exists work_pool varchar;
alter table run_engines add column if not exists worker varchar;

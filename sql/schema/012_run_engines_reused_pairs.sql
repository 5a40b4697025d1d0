-- Main-variant pairs copied from an identical fingerprint's earlier runs.
alter table run_engines add column if not exists reused_pairs integer

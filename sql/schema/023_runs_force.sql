-- Whether a run was started with --force (rescore what an identical fingerprint scored
-- before): a resumed run keeps it.
alter table runs add column if not exists force boolean

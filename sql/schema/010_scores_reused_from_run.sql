-- Provenance of a score copied from an identical fingerprint: the run that scored it.
alter table scores add column if not exists reused_from_run varchar

-- sha256 of every other file of the model folder that shapes a score (config, tokenizer,
-- module configs, templates): part of the fingerprint, so a changed tokenizer is a new engine.
alter table engines add column if not exists files_sha256 varchar

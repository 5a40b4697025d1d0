-- What the model saw per score (engines that record the ids they fed it: BatchedEngine._saw):
-- input_tokens, the count of ids after template, truncation and special tokens (not the
-- untruncated `tokens`), and token_hash, a 64-bit blake2b of the exact id sequence
-- (core/records.py token_ids_hash); null for engines that expose no ids (st-bi, http-*) and
-- for scores stored before. token_samples keeps the ids themselves and their token strings
-- for a deterministic sample of pairs (pipeline/scoring.py token_sampled: the same pairs for
-- every engine and night), so a changed tokenization can be shown token by token.
alter table scores add column if not exists input_tokens integer;
alter table scores add column if not exists token_hash ubigint;
create table if not exists token_samples (
    run_id varchar not null,
    engine_name varchar not null,
    engine_id varchar not null,
    pair_id varchar not null,
    variant varchar not null default 'main',
    ids integer[] not null,
    tokens varchar[], -- null: no tokenizer in this process (an isolated worker's engine)
    copied_from_run varchar -- set when copied with the scores of an identical fingerprint
)

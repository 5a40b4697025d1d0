-- Untruncated tokens one forward pass sees (the engine's own tokenizer; query + doc for a
-- cross-encoder, the longer text for a bi-encoder), counted when the pair is scored; null for
-- engines without a local tokenizer (isolated workers, HTTP servers).
alter table scores add column if not exists tokens integer

-- Pairs the engine actually scored in this attempt (the rest were reused or resumed).
alter table run_engines add column if not exists scored_pairs integer

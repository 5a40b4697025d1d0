-- Whether run $run_id already holds a score of any of $parts (engine_name || '/' || variant):
-- shards of parts it does not hold are loaded as they are (ingest_fresh_scores.sql), without
-- the anti join that keeps a stored score.
select exists (
    select 1
    from scores
    where run_id = $run_id
      and list_contains($parts, engine_name || '/' || variant)
) as stored

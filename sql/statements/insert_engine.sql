-- Register an engine fingerprint; one seen before (same engine_id) keeps its first row.
insert into engines (engine_id, kind, model, weights_sha256, dtype, device, pooling,
                     max_length, activation, versions, fingerprint, files_sha256, revision,
                     first_seen_at)
select $engine_id, $kind, $model, $weights_sha256, $dtype, $device, $pooling, $max_length,
       $activation, $versions, $fingerprint, $files_sha256, $revision, current_timestamp
where not exists (select 1 from engines where engine_id = $engine_id)

-- Register an engine fingerprint; one seen before (same engine_id) keeps its first row.
insert or ignore into engines (engine_id, kind, model, weights_sha256, dtype, device, pooling,
                               max_length, activation, versions, fingerprint, files_sha256,
                               revision, first_seen_at)
values ($engine_id, $kind, $model, $weights_sha256, $dtype, $device, $pooling, $max_length,
        $activation, $versions, $fingerprint, $files_sha256, $revision, current_timestamp)

-- Which of the shards $shard_ids the ledger holds already (an ingest skips them).
select shard_id
from ingested_shards
where list_contains($shard_ids, shard_id)

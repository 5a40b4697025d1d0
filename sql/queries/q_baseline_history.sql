-- `rerankwatch baseline history`: every acceptance (newest first), of one engine name or all.
select accepted_at, engine_name, run_id, how, pinned, accepted_by, reason
from baseline_history
where $engine is null or engine_name = $engine
order by accepted_at desc

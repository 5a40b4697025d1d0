-- `rerankwatch baseline history`: every acceptance and gate approval (newest first), of one
-- engine name or all.
select accepted_at, engine_name, run_id, flow, record, how, is_baseline, pinned, accepted_by,
       reason
from baseline_history
where $engine is null or engine_name = $engine
order by accepted_at desc

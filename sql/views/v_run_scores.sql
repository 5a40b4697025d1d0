-- Every score joined to its pair and engine fingerprint: what checks and reports read.
create or replace view v_run_scores as
with scored as (
    select s.run_id, s.engine_name, s.engine_id, s.pair_id, s.logit, s.score, s.activation,
           s.batch_index, s.latency_ms, s.tokens, s.input_tokens, s.token_hash
    from scores as s
    where s.variant = 'main'
)
select scored.*, p.set_id, p.query_id, p.query, p.doc_id, p.doc, p.label, p.tags, p.lang,
       p.ladder, p.ladder_rank, p.known_irrelevant,
       e.kind, e.model, e.dtype, e.device, e.pooling, e.max_length, e.weights_sha256
from scored
join sample_pairs as p using (pair_id)
join engines as e using (engine_id)

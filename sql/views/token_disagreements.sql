-- Within a run: pairs where two engine configs of the same model and family (cross-encoder,
-- LLM reranker or bi-encoder) fed their models different ids (scores.token_hash), each pair of
-- engine configs once (engine_name < other_engine_name), with both counts.
create or replace view token_disagreements as
with fed as (
    select s.run_id, s.engine_name, s.pair_id, s.input_tokens, s.token_hash, e.model,
           case when e.activation = 'cosine' then 'bi-encoder'
                when e.pooling = 'last-token' then 'llm-reranker'
                else 'cross-encoder' end as family
    from scores as s
    join engines as e using (engine_id)
    where s.variant = 'main' and s.token_hash is not null
)
select a.run_id, a.model, a.family, a.engine_name, b.engine_name as other_engine_name,
       a.pair_id, a.input_tokens, b.input_tokens as other_input_tokens,
       a.token_hash, b.token_hash as other_token_hash
from fed as a
join fed as b
  on a.run_id = b.run_id and a.pair_id = b.pair_id and a.model = b.model
 and a.family = b.family and a.engine_name < b.engine_name
where a.token_hash <> b.token_hash

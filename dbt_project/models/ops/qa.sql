{#-
  ops.qa: LLM question-answer pairs from English L3 text, each verified independently.
  - Synthesis (var l4_generator, prompt qa-v1): one Question / Answer / Evidence per text, read
    strictly (th_parse_qa); an answer in another form is 'unparsed', never repaired.
  - Verification (var l4_verifier, prompt answer-v1): a second pass answers the question from the
    source alone; a pair is 'verified' only if its evidence occurs in the source and the two
    answers agree (token F1 >= l4_min_agreement). Otherwise its verdict says why.
  Cached per (text, generator, verifier); failed calls are retried by the next build; at most
  l4_max_llm_calls texts are synthesised per build. Every verdict stays here; only verified pairs
  reach tiers.l4_knowledge.
  Var engine: ray makes the generator's and the verifier's calls as Ray Data jobs first
  (warehouse/engine/calls.py); this query joins their results in ops.measures.
-#}
{{ config(strategy='incremental', always_run=true, engine_plan='l4_engine_plan') }}

{{ l4_qa_ctes(var('engine') == 'ray') }},

fresh as (
    select
        md5(concat_ws(chr(31), content_hash, g.model, g.prompt_version, v.model, v.prompt_version)) as qa_key,
        content_hash,
        g.model as generator_model, g.prompt_version as generator_version,
        v.model as verifier_model, v.prompt_version as verifier_version,
        s.raw as raw, qa.question as question, qa.answer as answer, qa.evidence as evidence, a.raw as second_answer,
        case
            when s.status = 'failed' or a.status = 'failed' then 'failed'
            when qa is null then 'unparsed'
            else 'ok'
        end as status,
        coalesce(s.error, a.error) as error,
        case
            when s.status = 'failed' or a.status = 'failed' then null
            when qa is null then 'unparsed'
            when not evidence_in_source then 'evidence_not_in_source'
            when a.status <> 'ok' then 'verifier_unparsed'
            when agreement >= {{ var('l4_min_agreement') }} then 'verified'
            else 'answers_disagree'
        end as verdict,
        coalesce(agreement, 0.0) as confidence,
        -- what the generator and the verifier cost together
        s.backend as backend,
        s.requests + coalesce(a.requests, 0) as requests,
        s.tokens_in + coalesce(a.tokens_in, 0) as tokens_in,
        s.tokens_out + coalesce(a.tokens_out, 0) as tokens_out,
        s.seconds + coalesce(a.seconds, 0) as backend_seconds
    from checked
)

select f.*, coalesce(p.attempts, 0) + 1 as attempts, now() as generated_at
from fresh f
left join previous p using (qa_key)
union all by name
select * from previous where qa_key not in (select qa_key from fresh)

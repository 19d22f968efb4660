{#-
  L4 knowledge: question-answer pairs from English L3 documents, each with its evidence span in the
  source, whose verdict is one of var l4_verdicts, from two generators:
  - definitional sentences ("X is a Y."): verdict 'extracted' (the evidence is cut from the source
    and the answer from the evidence, so nothing independent checked them) when the evidence occurs
    in the source (th_evidence_in_source, the rule ops.qa uses) and holds the answer; extracted only
    from documents whose refined text this model has not read yet, the pairs of unchanged documents
    carried over;
  - LLM synthesis, verified by a second LLM pass and the extractive check (ops.qa, which keeps every
    pair with its verdict; only the verified ones of the current generator and verifier come here).
-#}
{{ config(strategy='incremental') }}

with english as (
    select r.doc_id, r.source, r.uri, r.content_hash, r.text
    from {{ ref('l3_refined') }} r
    join {{ ref('l2_selected') }} s using (doc_id)
    where s.language = 'en'
),

unchanged as (
    select e.doc_id
    from english e
    join {{ previous(ref('l3_refined')) }} p on p.doc_id = e.doc_id and p.content_hash = e.content_hash
),

carried as (
    select * from {{ this }}
    where doc_id in (select doc_id from unchanged) and generator = 'definitional-pattern-v1'
      and verdict in ({{ sql_list(var('l4_verdicts')) }})
),

facts as materialized (
    select doc_id, source, uri, text, unnest(th_facts(text, {{ var('l4_facts_per_doc') }})) as fact
    from english
    where doc_id not in (select doc_id from unchanged)
),

checked as materialized (
    select *, th_fact_verdict(fact.answer, fact.evidence, text) as verdict
    from facts
),

fresh as (
    select
        md5(doc_id || chr(31) || fact.question || chr(31) || fact.answer) as qa_id,
        doc_id, source, uri,
        fact.question as question,
        fact.answer as answer,
        fact.evidence as evidence,
        'definitional-pattern-v1' as generator,
        'extractive' as verifier,
        verdict,
        cast(null as double) as confidence
    from checked
    where verdict in ({{ sql_list(var('l4_verdicts')) }})
),

roles as (
    select th_scorer_id({{ generator_config('l4_generator') }}) as g, th_scorer_id({{ generator_config('l4_verifier') }}) as v
),

synthesized as (
    select
        md5(e.doc_id || chr(31) || q.question || chr(31) || q.answer) as qa_id,
        e.doc_id, e.source, e.uri, q.question, q.answer, q.evidence,
        concat_ws(':', 'llm', q.generator_model, q.generator_version) as generator,
        concat_ws(':', 'llm', q.verifier_model, q.verifier_version) || '+extractive' as verifier,
        q.verdict, q.confidence
    from {{ ref('qa') }} q
    join english e using (content_hash), roles r
    where q.verdict = 'verified' and 'verified' in ({{ sql_list(var('l4_verdicts')) }})
      and q.generator_model = r.g.model and q.generator_version = r.g.prompt_version
      and q.verifier_model = r.v.model and q.verifier_version = r.v.prompt_version
)

select * from (
    select * from carried union all by name select * from fresh union all by name select * from synthesized
)
qualify row_number() over (partition by qa_id order by doc_id) = 1

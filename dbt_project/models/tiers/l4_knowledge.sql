{#-
  L4 knowledge: question-answer pairs from definitional sentences of English L3 documents,
  each with its evidence span, checked by the extractive verifier. Only verified pairs are
  published. (The L3/L4 issue adds LLM synthesis and a second-model verifier.)
-#}
{{ config(strategy='incremental') }}

with english as (
    select r.doc_id, r.source, r.uri, r.text
    from {{ ref('l3_refined') }} r
    join {{ ref('l2_selected') }} s using (doc_id)
    where s.language = 'en'
),

facts as materialized (
    select doc_id, source, uri, text, unnest(th_facts(text, {{ var('l4_facts_per_doc') }})) as fact
    from english
),

checked as materialized (
    select *, th_verify(fact.answer, fact.evidence, text) as verification
    from facts
)

select
    md5(doc_id || chr(31) || fact.question || chr(31) || fact.answer) as qa_id,
    doc_id, source, uri,
    fact.question as question,
    fact.answer as answer,
    fact.evidence as evidence,
    'definitional-pattern-v1' as generator,
    'extractive' as verifier,
    verification.verdict as verdict,
    verification.confidence as confidence
from checked
where verification.verdict = 'verified'
qualify row_number() over (partition by qa_id order by doc_id) = 1

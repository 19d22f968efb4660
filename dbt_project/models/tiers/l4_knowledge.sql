{#-
  L4 knowledge: question-answer pairs from definitional sentences of English L3 documents,
  each with its evidence span, checked by the extractive verifier. Only verified pairs are
  published. (The L3/L4 issue adds LLM synthesis and a second-model verifier.)
  Facts are extracted only from documents whose refined text this model has not read yet;
  the pairs of unchanged documents are carried over.
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
    select * from {{ this }} where doc_id in (select doc_id from unchanged)
),

facts as materialized (
    select doc_id, source, uri, text, unnest(th_facts(text, {{ var('l4_facts_per_doc') }})) as fact
    from english
    where doc_id not in (select doc_id from unchanged)
),

checked as materialized (
    select *, th_verify(fact.answer, fact.evidence, text) as verification
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
        verification.verdict as verdict,
        verification.confidence as confidence
    from checked
    where verification.verdict = 'verified'
)

select * from (select * from carried union all by name select * from fresh)
qualify row_number() over (partition by qa_id order by doc_id) = 1

{#-
  L1 clean: extracted text, language, heuristic rule verdicts and exact-duplicate clusters.
  Every L0 document has a row; rejected ones keep kept = false and their reject_reasons.
  quality_flags holds the Gopher, C4 and FineWeb verdicts (udfs/heuristics.py, with DataTrove's
  definitions and defaults) for English documents, the language those rules are defined for;
  each one is also a reject reason.
  Extraction and language ID run only for documents L1 has not seen; the rules re-run on
  every build from the stored measurements, so changing a threshold var re-decides old rows.
-#}
{{ config(strategy='incremental') }}

with l0 as (
    select doc_id, source, uri, content_type, content, ingested_at
    from {{ source('tiers', 'l0_raw') }}
),

previous as (
    -- rows measured by this version of the model (older rows lack quality_flags: measure again)
    select * from {{ this }} where quality_flags is not null
),

extracted as materialized (
    select doc_id, source, uri, th_extract(content, content_type) as x
    from l0
    where doc_id not in (select doc_id from previous)
),

fresh as materialized (
    select
        doc_id, source, uri, x.text as text, x.title as title,
        th_content_hash(x.text) as content_hash,
        th_language(x.text) as lang
    from extracted
),

measured as (
    select doc_id, source, uri, content_hash, text, title, language, language_score, n_chars, n_words, quality_flags
    from previous
    where doc_id in (select doc_id from l0)
    union all by name
    select
        doc_id, source, uri, content_hash, text, title,
        lang.language as language,
        lang.score as language_score,
        length(text) as n_chars,
        case when trim(text) = '' then 0 else len(string_split_regex(trim(text), '\s+')) end as n_words,
        case when lang.language = 'en' then th_quality_flags(text) else [] end as quality_flags
    from fresh
),

ranked as (
    select
        m.*,
        row_number() over same_text as copy_number,
        first_value(m.doc_id) over same_text as first_copy,
        count(*) over (partition by m.content_hash) as copies
    from measured m
    join l0 using (doc_id)
    window same_text as (partition by m.content_hash order by l0.ingested_at, m.doc_id)
),

ruled as (
    select
        *,
        list_filter([
            case when n_chars < {{ var('l1_min_chars') }} then 'too_short' end,
            case when n_chars > {{ var('l1_max_chars') }} then 'too_long' end,
            case when n_words < {{ var('l1_min_words') }} then 'too_few_words' end,
            case when language_score < {{ var('l1_min_language_score') }} then 'language_uncertain' end,
            case when copy_number > 1 then 'exact_duplicate' end
        ], lambda r: r is not null) || quality_flags as reject_reasons
    from ranked
)

select
    doc_id, source, uri, content_hash, text, title, language, language_score, n_chars, n_words,
    quality_flags,
    len(reject_reasons) = 0 as kept,
    reject_reasons,
    case when copies > 1 then first_copy end as dup_cluster
from ruled

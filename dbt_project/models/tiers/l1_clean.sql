{#-
  L1 clean: extracted text, language, heuristic rule verdicts, exact and near-duplicate clusters.
  Every L0 document has a row; rejected ones keep kept = false and every reason in reject_reasons,
  so `select unnest(reject_reasons), count(*) ... group by 1` shows what each rule removed.
  - Extraction (Resiliparse) and language ID run only for documents L1 has not measured with the
    current versions of those operators (column extractor; udfs/registry.py); --full-refresh: all.
  - quality_flags holds the Gopher, C4 and FineWeb verdicts (udfs/heuristics.py, DataTrove's
    definitions; var l1_rules overrides its defaults) for English documents, the language those
    rules are defined for. They are computed again only when l1_rules or the rules' version changes.
  - The length, language and exact-duplicate rules re-apply every build from stored measurements,
    so changing one of their vars re-decides old rows.
  - Var l1_c4_rewrite (off by default): FineWeb's chain. English text becomes the lines C4's filter
    kept (udfs/chain.py), so FineWeb's rules, both dedups, the content hash and later tiers see that
    text; language ID and Gopher judge the extracted text. Its rules then count as part of extraction
    (column extractor), so changing the var or l1_rules re-extracts every row.
  - Near-duplicates: after this query, the fuzzy_dedup operator (warehouse/fuzzy.py) clusters the
    rows still kept with MinHash-LSH (var l1_fuzzy_dedup) and rejects every member but the cluster's
    earliest-ingested document as near_duplicate, naming that keeper in near_dup_cluster.
  - Neither rule touches the row of the copy that is kept: dup_cluster and near_dup_cluster are
    set on the later copies only, so new duplicates never rewrite stored rows.
  - Var engine: ray runs extraction, language ID and the rules as a Ray Data job first (warehouse/engine)
    and this query joins its results in ops.measures, keyed by (doc_id or content_hash, operator, version);
    the near-duplicate step's new texts are then signed on Ray too, into ops.minhash, and paired and
    clustered as before.
-#}
{%- set ray = var('engine') == 'ray' -%}
{%- if ray and var('l1_c4_rewrite') -%}
  {{ exceptions.raise_compiler_error("engine: ray does not run l1_c4_rewrite (FineWeb's chain) yet; build with engine: local") }}
{%- endif -%}
{#- config names a var and a macro rather than holding their values: a parsed project then serves
    builds with any vars (warehouse/build.py reuses it) -#}
{{ config(strategy='incremental', fuzzy_dedup='l1_fuzzy_dedup', engine_plan='l1_engine_plan') }}

with l0 as not materialized (
    -- read where used, each reference with only its own columns: materialised, it would copy every
    -- document's content once more
    select doc_id, source, uri, content_type, content, ingested_at
    from {{ source('tiers', 'l0_raw') }}
),

previous as not materialized (
    -- rows measured by these operator versions (older rows are measured again; --full-refresh: all);
    -- not materialised either: an incremental build would copy all of L1's text once more
    select * from {{ this }} where extractor = {{ l1_extractor() }} {%- if flags.FULL_REFRESH %} and false{% endif %}
),

{% if ray -%}
fresh as materialized (
    -- measured by the Ray job: th_extract, then th_language on its text
    select
        l0.doc_id, l0.source, l0.uri, l0.ingested_at, m.text, m.title, m.language_hint, m.extraction_error,
        struct_pack(language := m.language, score := m.language_score) as lang
    from l0
    join {{ source('ops', 'measures') }} m
      on m.input_hash = l0.doc_id and m.operator = 'l1_extract' and m.version = {{ l1_extractor() }}
    where l0.doc_id not in (select doc_id from previous)
),

judged as (
    -- the Ray job's rule verdicts per text and rule profile (texts several documents share may repeat)
    select input_hash as content_hash, version as quality_rules, any_value(quality_flags) as flags
    from {{ source('ops', 'measures') }}
    where operator = 'th_quality_flags'
    group by all
),
{%- else -%}
extracted as materialized (
    select doc_id, source, uri, ingested_at, th_extract(content, content_type) as x
    from l0
    where doc_id not in (select doc_id from previous)
),

fresh as materialized (
    select
        doc_id, source, uri, ingested_at, x.text as text, x.title as title, x.language_hint as language_hint,
        x.error as extraction_error,
        th_language(x.text) as lang
    from extracted
),
{%- endif %}

{% if var('l1_c4_rewrite') -%}
chained as materialized (
    -- FineWeb's chain (udfs/chain.py): English text becomes the lines C4 kept, later rules judge those
    select *, case when lang.language = 'en' then th_c4_chain(text, {{ l1_rules_literal() }}) end as chain
    from fresh
),

rewritten as (
    select * exclude (chain) replace (coalesce(chain.text, text) as text), chain.flags as chain_flags
    from chained
),
{%- else -%}
rewritten as (
    select *, cast(null as varchar[]) as chain_flags from fresh
),
{%- endif %}

measured as (
    select
        doc_id, source, uri, content_hash, text, title, language_hint, extraction_error,
        language, language_score, n_chars, n_words, quality_rules, quality_flags, l0.ingested_at
    from previous
    join (select doc_id, ingested_at from l0) l0 using (doc_id)
    union all by name
    select
        doc_id, source, uri, ingested_at, th_content_hash(text) as content_hash, text, title, language_hint, extraction_error,
        lang.language as language,
        lang.score as language_score,
        length(text) as n_chars,
        case when trim(text) = '' then 0 else len(string_split_regex(trim(text), '\s+')) end as n_words,
        case when chain_flags is not null then {{ l1_rules_key() }} end as quality_rules,
        chain_flags as quality_flags
    from rewritten
),

flagged as (
    select
        * replace (
            case
                when language <> 'en' then []
                when quality_rules = {{ l1_rules_key() }} then quality_flags
                {%- if ray %}
                else coalesce(
                    (select j.flags from judged j where j.content_hash = measured.content_hash
                        and j.quality_rules = {{ l1_rules_key() }}),
                    error('ops.measures holds no th_quality_flags verdict for content_hash ' || content_hash)
                )
                {%- else %}
                else th_quality_flags(text, {{ l1_rules_literal() }})
                {%- endif %}
            end as quality_flags,
            {{ l1_rules_key() }} as quality_rules
        )
    from measured
),

firsts as (
    -- each text's first copy (earliest ingested, then lowest doc_id), on narrow rows: a window over
    -- the whole rows, or a join of them with L0, held every text in memory DuckDB could not spill
    select content_hash, arg_min(doc_id, (ingested_at, doc_id)) as first_copy
    from measured
    group by content_hash
),

ranked as (
    select f.* exclude (ingested_at), f.doc_id <> firsts.first_copy as later_copy, firsts.first_copy
    from flagged f
    left join firsts using (content_hash)
),

ruled as (
    select
        *,
        list_filter([
            case when extraction_error is not null then 'extraction_failed' end,
            case when n_chars < {{ var('l1_min_chars') }} then 'too_short' end,
            case when n_chars > {{ var('l1_max_chars') }} then 'too_long' end,
            case when n_words < {{ var('l1_min_words') }} then 'too_few_words' end,
            case when language_score < {{ language_threshold('language') }} then 'language_uncertain' end,
            case when later_copy then 'exact_duplicate' end
        ], lambda r: r is not null) || quality_flags as reject_reasons
    from ranked
)

select
    doc_id, source, uri, content_hash, text, title, language_hint, extraction_error,
    {{ l1_extractor() }} as extractor,
    language, language_score, n_chars, n_words,
    quality_rules, quality_flags,
    len(reject_reasons) = 0 as kept,
    reject_reasons,
    -- a later copy names the first; the first copy's row stays as it was (a copy arriving later
    -- appends one row instead of rewriting the data file that holds the original)
    case when later_copy then first_copy end as dup_cluster,
    cast(null as varchar) as near_dup_cluster
from ruled

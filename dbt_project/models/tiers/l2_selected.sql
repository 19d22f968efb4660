{#-
  L2 selected: kept L1 documents in an allowed language whose quality score clears the bar.
  The score is a transparent text heuristic (length and share of letters) until the scorer
  issue brings model scores from ops.scores. A score is computed once per text: rows whose
  L1 text is unchanged carry their previous score, and the thresholds re-apply every build.
  --vars '{l2_reads_l1_at: build-3}' rebuilds L2 (and what follows) from L1 as it was at build 3.
-#}
{{ config(strategy='incremental') }}

with kept as (
    select doc_id, source, uri, content_hash, text, language, n_chars, n_words
    from {{ ref('l1_clean') }}{{ as_of(var('l2_reads_l1_at', none)) }}
    where kept
),

carried as (
    select k.*, p.quality_score
    from kept k
    join {{ this }} p on p.doc_id = k.doc_id and p.content_hash = k.content_hash
),

fresh as (
    select
        *,
        round(
            0.5 * least(1.0, ln(1 + n_words) / ln(1000))
            + 0.5 * length(regexp_replace(text, '[^[:alpha:]]', '', 'g')) / greatest(n_chars, 1),
            4
        ) as quality_score
    from kept
    where doc_id not in (select doc_id from carried)
)

select
    doc_id, source, uri, content_hash, text, language, quality_score,
    cast(null as double) as edu_score,
    cast(null as varchar) as domain
from (select * from carried union all by name select * from fresh)
where language in (
    {%- for lang in var('l2_languages') %}'{{ lang }}'{{ ',' if not loop.last }}{% endfor -%}
)
  and quality_score >= {{ var('l2_min_quality') }}

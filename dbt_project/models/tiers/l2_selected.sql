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

previous_scores as (
    select doc_id, content_hash, quality_score from {{ this }}
),

scored as (
    select
        k.*,
        -- the heuristic runs only where no score exists for this exact text
        coalesce(p.quality_score, round(
            0.5 * least(1.0, ln(1 + k.n_words) / ln(1000))
            + 0.5 * length(regexp_replace(k.text, '[^[:alpha:]]', '', 'g')) / greatest(k.n_chars, 1),
            4
        )) as quality_score
    from kept k
    left join previous_scores p using (doc_id, content_hash)
)

select
    doc_id, source, uri, content_hash, text, language, quality_score,
    cast(null as double) as edu_score,
    cast(null as varchar) as domain
from scored
where language in (
    {%- for lang in var('l2_languages') %}'{{ lang }}'{{ ',' if not loop.last }}{% endfor -%}
)
  and quality_score >= {{ var('l2_min_quality') }}

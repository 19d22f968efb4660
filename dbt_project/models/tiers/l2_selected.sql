{#-
  L2 selected: kept L1 documents in an allowed language whose scores clear the bars (vars).
  - quality_score: a transparent text heuristic (length and share of letters), computed once per text;
  - edu_score (0-5), domain and perplexity: from ops.scores, the scorer's own answer where it gave
    one, else the answer of the classifier distilled from its labels; *_scored_by says which.
    A classifier that scores (edu, perplexity) counts only if it ranks its judge's labels, out of
    fold, with a Spearman of at least l2_distill_min_spearman: one that cannot must not decide the
    tier (a text it scored is then treated as unscored). A label classifier (domain) sets no bar.
  The thresholds re-apply every build.
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
),

judges as (
    {%- for prompt, config in l2_scorers().items() %}
    select '{{ prompt }}' as judge, th_scorer_id({{ config }}) as id
    {{- '\n    union all' if not loop.last }}
    {%- endfor %}
),

classifiers as (
    select model, th_classifier_report(model) as report
    from (select distinct model from {{ ref('scores') }} where ends_with(scorer, '-distilled'))
),

candidate_scores as (
    select
        s.content_hash, j.judge, s.score, s.label, concat_ws(':', s.scorer, s.model, s.prompt_version) as scored_by,
        -- the judge's own answer first, then its distilled classifier's
        row_number() over (partition by s.content_hash, j.judge order by s.scorer = j.id.name desc) as preference
    from {{ ref('scores') }} s
    join judges j
      on s.prompt_version = j.id.prompt_version
     and ((s.scorer = j.id.name and s.model = j.id.model) or s.scorer = j.id.name || '-distilled')
    left join classifiers c on s.scorer = j.id.name || '-distilled' and c.model = s.model
    where s.status = 'ok'
    {%- if var('l2_distill_min_spearman') is not none %}
      and (c.model is null or c.report.accuracy is not null
           or c.report.spearman >= {{ var('l2_distill_min_spearman') }})
    {%- endif %}
),

model_scores as (
    select
        content_hash,
        max(score) filter (where judge = 'edu') as edu_score,
        max(scored_by) filter (where judge = 'edu') as edu_scored_by,
        max(label) filter (where judge = 'domain') as domain,
        max(score) filter (where judge = 'perplexity') as perplexity,
        max(scored_by) filter (where judge = 'perplexity') as perplexity_scored_by
    from candidate_scores
    where preference = 1
    group by content_hash
)

select
    doc_id, source, uri, content_hash, text, language, quality_score,
    m.edu_score, m.edu_scored_by, m.domain, m.perplexity, m.perplexity_scored_by
from scored
left join model_scores m using (content_hash)
where language in ({{ l2_language_list() }})
  and quality_score >= {{ var('l2_min_quality') }}
  -- a text no scorer has scored yet (no LLM budget, too few labels to distil a classifier, or a classifier
  -- that does not rank) is not held back
  and (m.edu_score is null or m.edu_score >= {{ var('l2_min_edu_score') }})
  {%- if var('l2_max_perplexity') is not none %}
  and (m.perplexity is null or m.perplexity <= {{ var('l2_max_perplexity') }})
  {%- endif %}

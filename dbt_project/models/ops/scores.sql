{#-
  ops.scores: every (text, scorer, model, prompt version) is scored once, ever.
  For each judge in var l2_judges (prompt name: version), run by the backend in var llm, and for
  perplexity under a base model (var l2_perplexity; null turns it off):
  - the LLM labels a fixed stratified sample of l2_llm_sample texts (round-robin over the
    (source, language) strata, each in hash order), at most l2_max_llm_calls new calls per judge
    per build; what the cap leaves is labelled by the next build;
  - a classifier distilled from all its readable labels (th_distill: hashed n-grams, linear; trained
    only when the labels change) scores every kept text the judge did not label.
  Only keys without a result are sent: a rebuild with nothing new makes no call, a prompt-version
  bump re-scores, and failed calls stay recorded (status, error, attempts) and are retried next build.
  Scores of a superseded classifier are dropped; the judges' own are kept for good.
  The decisions up to each scorer's new results are the CTEs of macro l2_scores_ctes (macros/scores.sql).
  Var engine: ray runs the judges, then the distilled classifiers, as Ray Data jobs first
  (warehouse/engine/scores.py) and this query joins their results in ops.measures.
-#}
{{ config(strategy='incremental', always_run=true, engine_plan='l2_engine_plan') }}

{{ l2_scores_ctes(var('engine') == 'ray') }}

, fresh as (
    {%- for prompt in l2_scorers() %}
    select content_hash, id, r from {{ prompt }}_judged
    union all
    select content_hash, id, r from {{ prompt }}_distilled
    {{- '\n    union all' if not loop.last }}
    {%- endfor %}
),

keyed as (
    select *, md5(concat_ws(chr(31), content_hash, id.name, id.model, id.prompt_version)) as score_id
    from fresh
),

superseded as (
    -- scores of an older classifier distilled for the same judge and prompt version
    select p.score_id from previous p
    where false
    {%- for prompt in l2_scorers() %}
       or p.score_id in (
           select p2.score_id from previous p2, {{ prompt }}_classifier k
           where k.id is not null and p2.scorer = k.id.name and p2.prompt_version = k.id.prompt_version
             and p2.model <> k.id.model
       )
    {%- endfor %}
)

select
    k.score_id, k.content_hash, k.id.name as scorer, k.id.model as model, k.id.prompt_version as prompt_version,
    k.r.score as score, k.r.label as label, k.r.raw as raw, k.r.status as status, k.r.error as error,
    coalesce(p.attempts, 0) + 1 as attempts,
    now() as scored_at,
    {{ llm_usage('k.r') }}
from keyed k
left join previous p using (score_id)
union all by name
select * from previous
where score_id not in (select score_id from keyed) and score_id not in (select score_id from superseded)

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
-#}
{{ config(strategy='incremental', always_run=true) }}

with candidates as (
    select content_hash, any_value(text) as text, any_value(source) as source, any_value(language) as language
    from {{ ref('l1_clean') }}
    where kept and language in ({{ l2_language_list() }})
    group by content_hash
),

previous as (
    select * from {{ this }}
),

sample as (
    -- stratified: round-robin over the (source, language) strata, each in hash order
    select * from (
        select *, row_number() over (partition by source, language order by hash(content_hash)) as rank_in_stratum
        from candidates
    )
    qualify row_number() over (order by rank_in_stratum, hash(content_hash)) <= {{ var('l2_llm_sample') }}
)
{%- for prompt, config in l2_scorers().items() %}

, {{ prompt }}_judge as (
    select th_scorer_id({{ config }}) as id
),

{{ prompt }}_todo as (
    select s.content_hash, s.text
    from sample s, {{ prompt }}_judge j
    where not exists (
        select 1 from previous p
        where p.content_hash = s.content_hash and {{ by_scorer('p', 'j.id') }} and p.status <> 'failed'
    )
    order by hash(s.content_hash)
    limit {{ var('l2_max_llm_calls') }}
),

{{ prompt }}_judged as materialized (
    select t.content_hash, j.id, th_judge(t.text, {{ config }}, (select count(*) from {{ prompt }}_todo)) as r
    from {{ prompt }}_todo t, {{ prompt }}_judge j
),

{{ prompt }}_labels as (
    -- the judge's readable answers about texts L1 still keeps
    select c.content_hash, c.text, coalesce(cast(x.score as varchar), x.label) as target
    from (
        select p.content_hash, p.score, p.label
        from previous p, {{ prompt }}_judge j
        where {{ by_scorer('p', 'j.id') }} and p.status = 'ok'
        union all
        select content_hash, r.score, r.label from {{ prompt }}_judged where r.status = 'ok'
    ) x
    join candidates c using (content_hash)
),

{{ prompt }}_classifier as materialized (
    select th_distill(list(text order by content_hash), list(target order by content_hash), {{ config }}) as id
    from {{ prompt }}_labels
),

{{ prompt }}_distilled as materialized (
    select c.content_hash, k.id, th_classify(c.text, k.id.model) as r
    from candidates c, {{ prompt }}_classifier k
    where k.id is not null
      and c.content_hash not in (select content_hash from {{ prompt }}_labels)
      and not exists (
          select 1 from previous p where p.content_hash = c.content_hash and {{ by_scorer('p', 'k.id') }}
      )
)
{%- endfor %}

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

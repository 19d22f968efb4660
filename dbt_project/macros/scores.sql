{#- The ops.scores model's decisions up to each scorer's new results, as CTEs (first_kept, candidates,
    previous, sample, then per scorer: _judge, _todo, _judged, _labels, _classifier, _unclassified, _distilled).
    The model appends how they are stored; with var engine: ray the driver runs these same CTEs for its
    to-do lists (macro l2_engine_plan), so the Ray job and the model cannot disagree on what is scored.
    ray: _judged and _distilled join what the Ray jobs wrote to ops.measures instead of calling the UDFs. -#}
{% macro l2_scores_ctes(ray) -%}
with first_kept as (
    -- each kept text's first row, chosen on narrow rows: grouping the rows with their texts held every
    -- text in memory DuckDB cannot spill (benchmarks/RESULTS.md: the LLM path at 10x ran out of it here)
    select min(doc_id) as doc_id
    from {{ ref('l1_clean') }}
    where kept and language in ({{ l2_language_list() }})
    group by content_hash
),

candidates as (
    select content_hash, text, source, language
    from {{ ref('l1_clean') }} semi join first_kept using (doc_id)
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
    select th_scorer_id({{ config }}) as id, {{ config }} as config
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
    {%- if ray %}
    select t.content_hash, j.id, m.r
    from {{ prompt }}_todo t, {{ prompt }}_judge j, {{ measured_scores('th_judge') }} m
    where m.content_hash = t.content_hash and m.version = {{ scorer_key('j.id') }}
    {%- else %}
    select t.content_hash, j.id, th_judge(t.text, {{ config }}, (select count(*) from {{ prompt }}_todo)) as r
    from {{ prompt }}_todo t, {{ prompt }}_judge j
    {%- endif %}
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

{{ prompt }}_unclassified as (
    -- kept texts the judge did not label and this classifier has not scored
    select c.content_hash, c.text, k.id
    from candidates c, {{ prompt }}_classifier k
    where k.id is not null
      and c.content_hash not in (select content_hash from {{ prompt }}_labels)
      and not exists (
          select 1 from previous p where p.content_hash = c.content_hash and {{ by_scorer('p', 'k.id') }}
      )
),

{{ prompt }}_distilled as materialized (
    {%- if ray %}
    select u.content_hash, u.id, m.r
    from {{ prompt }}_unclassified u, {{ measured_scores('th_classify') }} m
    where m.content_hash = u.content_hash and m.version = u.id.model
    {%- else %}
    select content_hash, id, th_classify(text, id.model) as r from {{ prompt }}_unclassified
    {%- endif %}
)
{%- endfor %}
{%- endmacro %}

{#- What the Ray scoring job needs (config engine_plan of ops.scores names this macro): the model's CTEs
    as the Ray path renders them, and the scorers in order. -#}
{% macro l2_engine_plan() -%}
  {{ return({'kind': 'scores', 'ctes': l2_scores_ctes(true), 'scorers': l2_scorers().keys() | list}) }}
{%- endmacro %}

{#- A scorer id (struct) as ops.measures keys a judge's results: name, model and prompt version. -#}
{% macro scorer_key(id) -%}
  concat_ws(chr(31), {{ id }}.name, {{ id }}.model, {{ id }}.prompt_version)
{%- endmacro %}

{#- The latest usable result per (text, version) of a scoring operator the Ray job ran (a failed one only
    when none is usable, as the job's to-do list decides), shaped as th_judge's. -#}
{% macro measured_scores(operator) -%}
  (select input_hash as content_hash, version,
          struct_pack(status := status, score := score, label := label, raw := raw, error := error,
                      backend := backend, requests := requests, tokens_in := tokens_in,
                      tokens_out := tokens_out, seconds := backend_seconds) as r
   from {{ source('ops', 'measures') }}
   where operator = '{{ operator }}'
   qualify row_number() over (partition by input_hash, version order by status = 'failed', measured_at desc) = 1)
{%- endmacro %}

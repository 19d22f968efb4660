{#- The ops.qa model's CTEs up to each pair's check (first_english, english, previous, roles, todo, synthesized, parsed,
    asked, checked); with var engine: ray the driver runs them for its to-do lists (macro l4_engine_plan),
    and synthesized and asked join what the Ray jobs wrote to ops.measures instead of calling the UDFs. -#}
{% macro l4_qa_ctes(ray) -%}
with first_english as (
    -- each English text's first document, chosen on narrow rows (as first_kept in macros/scores.sql)
    select min(r.doc_id) as doc_id
    from {{ ref('l3_refined') }} r
    join {{ ref('l2_selected') }} s using (doc_id)
    where s.language = 'en'
    group by r.content_hash
),

english as (
    select content_hash, text from {{ ref('l3_refined') }} semi join first_english using (doc_id)
),

previous as (
    select * from {{ this }}
),

roles as (
    select th_scorer_id({{ generator_config('l4_generator') }}) as g, th_scorer_id({{ generator_config('l4_verifier') }}) as v
),

todo as (
    select e.content_hash, e.text, r.g, r.v
    from english e, roles r
    where not exists (
        select 1 from previous p
        where p.content_hash = e.content_hash and p.status <> 'failed'
          and p.generator_model = r.g.model and p.generator_version = r.g.prompt_version
          and p.verifier_model = r.v.model and p.verifier_version = r.v.prompt_version
    )
    order by hash(e.content_hash)
    limit {{ var('l4_max_llm_calls') }}
),

synthesized as materialized (
    {%- if ray %}
    select t.*, m.r as s
    from todo t, {{ measured_scores('th_judge') }} m
    where m.content_hash = t.content_hash and m.version = {{ scorer_key('t.g') }}
    {%- else %}
    select *, th_judge(text, {{ generator_config('l4_generator') }}, (select count(*) from todo)) as s
    from todo
    {%- endif %}
),

parsed as (
    select *, th_parse_qa(s.raw) as qa from synthesized
),

asked as materialized (
    {%- if ray %}
    {{ measured_answers('parsed') }}
    {%- else %}
    select *,
        case when qa is not null
             then th_ask(text, qa.question, {{ generator_config('l4_verifier') }}, (select count(*) from parsed where qa is not null))
        end as a
    from parsed
    {%- endif %}
),

checked as (
    select *,
        case when qa is not null and a.status = 'ok' then th_answer_agreement(qa.answer, a.raw) end as agreement,
        coalesce(th_evidence_in_source(qa.evidence, text), false) as evidence_in_source
    from asked
)
{%- endmacro %}

{#- The LLM calls ops.qa makes, in order, for the Ray job (config engine_plan of ops.qa names this macro):
    the generator's on each text, then the verifier's on each pair it wrote that parsed. -#}
{% macro l4_engine_plan() -%}
  {%- set generate -%}
    select content_hash, text, {{ generator_config('l4_generator') }} as config, {{ scorer_key('g') }} as version
    from todo
  {%- endset -%}
  {%- set verify -%}
    select content_hash, text, qa.question as question, {{ generator_config('l4_verifier') }} as config,
           {{ ask_key('v', 'qa.question') }} as version
    from parsed where qa is not null
  {%- endset -%}
  {{ return({'kind': 'calls', 'ctes': l4_qa_ctes(true),
             'calls': [{'operator': 'th_judge', 'query': generate}, {'operator': 'th_ask', 'query': verify}]}) }}
{%- endmacro %}

{#- The pairs of relation ``parsed``, each with the verifier's answer the Ray job stored in ops.measures
    (a pair that did not parse needs none). A pair with no answer yet is left out, not decided: its
    verdict would otherwise be made without the verifier and cached, and the next build asks. -#}
{% macro measured_answers(parsed) -%}
    select p.*, m.r as a
    from {{ parsed }} p
    left join {{ measured_scores('th_ask') }} m
      on p.qa is not null and m.content_hash = p.content_hash and m.version = {{ ask_key('p.v', 'p.qa.question') }}
    where p.qa is null or m.r is not null
{%- endmacro %}

{#- How ops.measures keys a verifier's answer: the verifier's scorer key and the question it was asked. -#}
{% macro ask_key(id, question) -%}
  ({{ scorer_key(id) }} || chr(31) || md5({{ question }}))
{%- endmacro %}

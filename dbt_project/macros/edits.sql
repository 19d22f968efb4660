{#- The ops.edits model's CTEs up to each text's new edit (repairs, first_needing, repaired, previous, editor, todo, edited); with
    var engine: ray the driver runs them for its to-do list (macro l3_engine_plan), and edited joins what
    the Ray job wrote to ops.measures instead of calling th_judge. -#}
{% macro l3_edits_ctes(ray) -%}
with repairs as materialized (
    select doc_id, th_repair(text) as r from {{ ref('l2_selected') }}
),

first_needing as (
    -- each repaired text that needs an edit, by its first document, chosen on narrow rows (as first_kept
    -- in macros/scores.sql)
    select min(doc_id) as doc_id from repairs where th_needs_edit(r) is not null group by th_content_hash(r)
),

repaired as (
    select th_content_hash(r) as content_hash, r as text from repairs semi join first_needing using (doc_id)
),

previous as (
    select * from {{ this }}
),

editor as (
    select th_scorer_id({{ generator_config('l3_editor') }}) as id
),

todo as (
    select r.content_hash, r.text
    from repaired r, editor e
    where not exists (
        select 1 from previous p
        where p.content_hash = r.content_hash and p.editor = e.id.name and p.model = e.id.model
          and p.prompt_version = e.id.prompt_version and p.status <> 'failed'
    )
    order by hash(r.content_hash)
    limit {{ var('l3_max_llm_edits') }}
),

edited as materialized (
    {%- if ray %}
    select t.content_hash, e.id, m.r
    from todo t, editor e, {{ measured_scores('th_judge') }} m
    where m.content_hash = t.content_hash and m.version = {{ scorer_key('e.id') }}
    {%- else %}
    select t.content_hash, e.id, th_judge(t.text, {{ generator_config('l3_editor') }}, (select count(*) from todo)) as r
    from todo t, editor e
    {%- endif %}
)
{%- endmacro %}

{#- The LLM calls ops.edits makes, for the Ray job (config engine_plan of ops.edits names this macro). -#}
{% macro l3_engine_plan() -%}
  {%- set call -%}
    select t.content_hash, t.text, {{ generator_config('l3_editor') }} as config, {{ scorer_key('e.id') }} as version
    from todo t, editor e
  {%- endset -%}
  {{ return({'kind': 'calls', 'ctes': l3_edits_ctes(true), 'calls': [{'operator': 'th_judge', 'query': call}]}) }}
{%- endmacro %}

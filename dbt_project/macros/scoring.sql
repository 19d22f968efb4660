{#- A list var as SQL string literals: 'en', 'de', ... -#}
{% macro sql_list(values) -%}
  {%- for value in values %}'{{ value | replace("'", "''") }}'{{ ',' if not loop.last }}{% endfor -%}
{%- endmacro %}

{#- The allowed L2 languages as a SQL list: 'en', 'de', ... -#}
{% macro l2_language_list() -%}
  {{ sql_list(var('l2_languages')) }}
{%- endmacro %}

{#- A judge's configuration as a SQL string literal: the prompt, its version and the llm var. -#}
{% macro judge_config(prompt) -%}
  '{{ tojson({'prompt': prompt, 'version': var('l2_judges')[prompt], 'llm': var('llm'),
              'min_labels': var('l2_distill_min_labels'),
              'retrain_share': var('l2_distill_retrain_share')}) | replace("'", "''") }}'
{%- endmacro %}

{#- The perplexity scorer's configuration (var l2_perplexity) as a SQL string literal. -#}
{% macro perplexity_config() -%}
  {%- set spec = {'scorer': 'perplexity', 'min_labels': var('l2_distill_min_labels'),
                  'retrain_share': var('l2_distill_retrain_share')} -%}
  {%- do spec.update(var('l2_perplexity')) -%}
  '{{ tojson(spec) | replace("'", "''") }}'
{%- endmacro %}

{#- Every L2 scorer ops.scores runs, as name -> configuration literal: the judges, then perplexity if on. -#}
{% macro l2_scorers() -%}
  {%- set scorers = {} -%}
  {%- for prompt in var('l2_judges') -%}
    {%- do scorers.update({prompt: judge_config(prompt)}) -%}
  {%- endfor -%}
  {%- if var('l2_perplexity') -%}
    {%- do scorers.update({'perplexity': perplexity_config()}) -%}
  {%- endif -%}
  {{ return(scorers) }}
{%- endmacro %}

{#- A generator's configuration (var `name`: {prompt, version}) as a SQL string literal, with the llm var. -#}
{% macro generator_config(name) -%}
  '{{ tojson({'prompt': var(name)['prompt'], 'version': var(name)['version'], 'llm': var('llm')}) | replace("'", "''") }}'
{%- endmacro %}

{#- Rows of `relation` that belong to the scorer whose id (a struct) is `id`. -#}
{% macro by_scorer(relation, id) -%}
  {{ relation }}.scorer = {{ id }}.name and {{ relation }}.model = {{ id }}.model
  and {{ relation }}.prompt_version = {{ id }}.prompt_version
{%- endmacro %}

{#- What an LLM result (a th_judge / th_ask struct) cost, as the ops tables' usage columns. -#}
{% macro llm_usage(result) -%}
  {{ result }}.backend as backend, {{ result }}.requests as requests, {{ result }}.tokens_in as tokens_in,
    {{ result }}.tokens_out as tokens_out, {{ result }}.seconds as backend_seconds
{%- endmacro %}

{#- The language-ID confidence a document needs, per language: var l1_min_language_score is either
    one number for every language or a mapping {default: x, <language>: y, ...}. -#}
{% macro language_threshold(language) -%}
  {%- set threshold = var('l1_min_language_score') -%}
  {%- if threshold is mapping -%}
    case {{ language }}
    {%- for lang, value in threshold.items() if lang != 'default' %} when '{{ lang }}' then {{ value }}{% endfor %}
    else {{ threshold.get('default', 0) }} end
  {%- else -%}
    {{ threshold }}
  {%- endif -%}
{%- endmacro %}

{#- The l1_rules var as a SQL string literal: the JSON the Gopher/C4/FineWeb rule UDF is configured by. -#}
{% macro l1_rules_literal() -%}
  '{{ tojson(var('l1_rules')) | replace("'", "''") }}'
{%- endmacro %}

{#- What a stored quality verdict must have been made with to be reused: the l1_rules var and the
    rules operator's version (udfs/registry.py); anything else is judged again. -#}
{% macro l1_rules_key() -%}
  ({{ l1_rules_literal() }} || '@' || th_version('th_quality_flags'))
{%- endmacro %}

{#- The extraction and language-ID operators' versions, as L1's extractor column records them. -#}
{% macro l1_extractor() -%}
  (th_version('th_extract') || '+' || th_version('th_language'))
{%- endmacro %}

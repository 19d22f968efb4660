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

{#- The rule profile of each row's source, as a SQL expression over column `source`: the JSON the
    Gopher/C4/FineWeb rule UDFs are configured by. It is var l1_rules, with var l1_source_rules[source]
    merged over it (parameter by parameter; mask_code: true judges text with its code blocks masked). -#}
{% macro l1_rules_literal() -%}
  {%- set by_source = var('l1_source_rules') or {} -%}
  {%- if by_source -%}
    case source
    {%- for name, profile in by_source.items() %} when '{{ name | replace("'", "''") }}' then {{ l1_profile_json(profile) }}{% endfor %}
    else {{ l1_profile_json({}) }} end
  {%- else -%}
    {{ l1_profile_json({}) }}
  {%- endif -%}
{%- endmacro %}

{#- var l1_rules with one source's profile merged over it, as a SQL string literal. -#}
{% macro l1_profile_json(profile) -%}
  {%- set merged = {} -%}
  {%- do merged.update(var('l1_rules')) -%}
  {%- for rule, params in profile.items() -%}
    {%- if params is mapping and merged.get(rule) is mapping -%}
      {%- set both = {} -%}{%- do both.update(merged[rule]) -%}{%- do both.update(params) -%}
      {%- do merged.update({rule: both}) -%}
    {%- else -%}
      {%- do merged.update({rule: params}) -%}
    {%- endif -%}
  {%- endfor -%}
  '{{ tojson(merged) | replace("'", "''") }}'
{%- endmacro %}

{#- What a stored quality verdict must have been made with to be reused: the l1_rules var and the
    rules operator's version (udfs/registry.py); anything else is judged again. -#}
{% macro l1_rules_key() -%}
  ({{ l1_rules_literal() }} || '@' || th_version('th_quality_flags'))
{%- endmacro %}

{#- The extraction and language-ID operators' versions, as L1's extractor column records them; with var
    l1_c4_rewrite, also the chain's version and a digest of the rules that rewrote the text. -#}
{% macro l1_extractor() -%}
  (th_version('th_extract') || '+' || th_version('th_language')
  {%- if var('l1_c4_rewrite') %} || '+c4chain-' || th_version('th_c4_chain') || '@' || left(md5({{ l1_rules_literal() }}), 8){% endif %})
{%- endmacro %}

{#- What a Ray Data job measures for L1 (config engine_plan names this macro). -#}
{% macro l1_engine_plan() -%}
  {{ return({'extractor': l1_extractor(), 'rules': l1_rules_literal(), 'rules_key': l1_rules_key()}) }}
{%- endmacro %}

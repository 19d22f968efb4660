{#- Models land in the schema they name (tiers), not dbt's default "<target>_<schema>". -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
  {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}

{#- The thresholds the gates read: the vars named in dbt_project.yml, in one mapping. -#}
{% macro tierhouse_gate_vars() -%}
  {{ return({
      'min_verified': var('l4_min_verified_fraction'),
      'min_rows': var('gate_min_rows'),
      'max_row_drop': var('gate_max_row_drop'),
      'mostly': var('gate_mostly'),
      'drift': var('gate_drift'),
      'accept_drift': var('gate_accept_drift'),
  }) }}
{%- endmacro %}

{#- Every var a build depends on, recorded in ops.builds. -#}
{% macro tierhouse_build_vars() -%}
  {{ return({
      'build_id': var('build_id', none),
      'l1_min_chars': var('l1_min_chars'), 'l1_max_chars': var('l1_max_chars'),
      'l1_min_words': var('l1_min_words'), 'l1_min_language_score': var('l1_min_language_score'),
      'l1_rules': var('l1_rules'), 'l1_fuzzy_dedup': var('l1_fuzzy_dedup'),
      'l2_languages': var('l2_languages'), 'l2_min_quality': var('l2_min_quality'),
      'llm': var('llm'), 'l2_judges': var('l2_judges'), 'l2_llm_sample': var('l2_llm_sample'),
      'l2_max_llm_calls': var('l2_max_llm_calls'), 'l2_min_edu_score': var('l2_min_edu_score'),
      'l2_distill_min_labels': var('l2_distill_min_labels'), 'l2_distill_retrain_share': var('l2_distill_retrain_share'),
      'l2_distill_min_spearman': var('l2_distill_min_spearman'),
      'l2_perplexity': var('l2_perplexity'), 'l2_max_perplexity': var('l2_max_perplexity'),
      'l2_reads_l1_at': var('l2_reads_l1_at', none),
      'l3_min_edit_ratio': var('l3_min_edit_ratio'), 'l4_facts_per_doc': var('l4_facts_per_doc'),
      'l3_editor': var('l3_editor'), 'l3_max_llm_edits': var('l3_max_llm_edits'), 'l3_guard': var('l3_guard'),
      'l4_generator': var('l4_generator'), 'l4_verifier': var('l4_verifier'),
      'l4_max_llm_calls': var('l4_max_llm_calls'), 'l4_min_agreement': var('l4_min_agreement'),
      'l4_min_verified_fraction': var('l4_min_verified_fraction'), 'l4_verdicts': var('l4_verdicts'),
      'gate_min_rows': var('gate_min_rows'), 'gate_max_row_drop': var('gate_max_row_drop'),
      'gate_mostly': var('gate_mostly'), 'gate_drift': var('gate_drift'),
      'gate_accept_drift': var('gate_accept_drift'),
      'llm_prices': var('llm_prices'), 'engine': var('engine'),
  }) }}
{%- endmacro %}

{#- " FOR VERSION AS OF '<version>'" when a version is given: read a ref at a tag, build or snapshot. -#}
{% macro as_of(version) -%}
  {%- if version %} FOR VERSION AS OF '{{ version }}'{% endif -%}
{%- endmacro %}

{#- An input as this model last consumed it (empty when it never did, or its code changed since):
    select from it to process only what changed. The plugin creates these views before each model. -#}
{% macro previous(relation) -%}
  tierhouse_prev.{{ relation.identifier }}
{%- endmacro %}

{#- The Iceberg tables a model reads: its refs and sources, as schema.name. -#}
{% macro tierhouse_inputs(model) -%}
  {%- set names = [] -%}
  {%- for node_id in model.depends_on.nodes -%}
    {%- set node = graph.nodes.get(node_id) or graph.sources.get(node_id) -%}
    {%- do names.append(node.schema ~ '.' ~ (node.alias or node.identifier or node.name)) -%}
  {%- endfor -%}
  {{ return(names) }}
{%- endmacro %}

{#-
  iceberg: stage the model's result in DuckDB, then write-audit-publish it into the tier's
  Iceberg table (warehouse/publish.py). config(strategy='incremental' | 'full').
  When the model's code, vars and every input snapshot equal the last build's, nothing runs:
  main is tagged for this build and the model is reported as unchanged.
-#}
{#- A model may read past states: FOR VERSION AS OF / FOR TIMESTAMP AS OF / AT (VERSION => …). -#}
{% macro tierhouse_time_travel(sql) -%}
  {%- set upper = sql | upper -%}
  {%- if execute and (' AS OF ' in upper or 'AT (' in upper) -%}
    {%- set rewritten = run_query("select tierhouse_time_travel('" ~ sql | replace("'", "''") ~ "')") -%}
    {{ return(rewritten.columns[0].values()[0]) }}
  {%- endif -%}
  {{ return(sql) }}
{%- endmacro %}

{% materialization iceberg, adapter='duckdb' %}
  {%- set strategy = config.get('strategy', 'incremental') -%}
  {%- set sql = tierhouse_time_travel(sql) -%}
  {%- set target_table = this.schema ~ '.' ~ this.identifier -%}
  {%- set inputs = tierhouse_inputs(model) -%}
  {#- config(fuzzy_dedup=<var name>): the MinHash-LSH settings are that var's value in this build -#}
  {%- set fuzzy = var(config.get('fuzzy_dedup')) if config.get('fuzzy_dedup') else none -%}
  {%- set code = local_md5(sql ~ tojson(tierhouse_gate_vars()) ~ tojson(fuzzy)) -%}
  {%- set staging = api.Relation.create(database=this.database, schema='tierhouse_staging',
                                         identifier=this.identifier, type='table') -%}
  {%- set settings = {'strategy': strategy, 'gate': tierhouse_gate_vars(), 'vars': tierhouse_build_vars(),
                      'inputs': inputs, 'code': code, 'fuzzy_dedup': fuzzy} -%}
  {{ run_hooks(pre_hooks) }}
  {% do adapter.store_relation('tierhouse', staging, [], target_table, 'tierhouse-prepare', settings) %}
  {%- set probe -%}
    select tierhouse_unchanged('{{ target_table }}', '{{ inputs | join(",") }}', '{{ code }}')
  {%- endset -%}
  {#- config(always_run=true): the model itself decides what is left to do (ops.scores retries failures) -#}
  {%- if not flags.FULL_REFRESH and not config.get('always_run') and run_query(probe).columns[0].values()[0] -%}
    {% do adapter.store_relation('tierhouse', staging, [], target_table, 'tierhouse-skip', settings) %}
    {% call statement('main') -%} select 'unchanged' as status {%- endcall %}
  {%- else -%}
    {#- config(engine_plan=<macro name>) with var engine: ray: a Ray Data job measures first what that
        macro's plan says (warehouse/engine) -#}
    {%- set ray = {'plan': context[config.get('engine_plan')](), 'address': var('ray_address'), 'chunk_rows': var('ray_chunk_rows'),
                   'actors': var('ray_actors'), 'actor_cpus': var('ray_actor_cpus'), 'full_refresh': flags.FULL_REFRESH}
                  if config.get('engine_plan') and var('engine') == 'ray' else none -%}
    {% if ray %}
      {% do adapter.store_relation('tierhouse', staging, [], target_table, 'tierhouse-engine', ray) %}
    {% endif %}
    {#- the plugin runs the model's SQL into the staging table (under the build's memory limit, naming
        the step if it runs out), then reads it through its own cursor -#}
    {%- set stage = settings.copy() -%}
    {%- do stage.update({'sql': sql}) -%}
    {% do adapter.store_relation('tierhouse', staging, [], target_table, 'tierhouse-stage', stage) %}
    {% call statement('main') -%} select 'staged' as status {%- endcall %}
    {#- config(fuzzy_dedup=...): MinHash-LSH marks near-duplicates among the staged rows kept so far
        (with var engine: ray, the new texts are signed on Ray) -#}
    {% if fuzzy %}
      {%- set dedup = settings.copy() -%}
      {%- do dedup.update({'full_refresh': flags.FULL_REFRESH, 'engine': ray}) -%}
      {% do adapter.store_relation('tierhouse', staging, [], target_table, 'tierhouse-fuzzy-dedup', dedup) %}
    {% endif %}
    {% do adapter.store_relation('tierhouse', staging, [], target_table, 'iceberg', settings) %}
    {% call statement('drop_staging') -%}
      drop table if exists {{ staging }}
    {%- endcall %}
  {%- endif -%}
  {{ run_hooks(post_hooks) }}
  {{ return({'relations': [this.incorporate(type='view')]}) }}
{% endmaterialization %}

{#- on-run-start: open the build and point every tier view at its current snapshot. -#}
{% macro tierhouse_begin_build() %}
  {% if execute and flags.WHICH in ('build', 'run') %}
    {% do adapter.store_relation('tierhouse', none, [], 'ops.builds', 'tierhouse-build-start',
          {'vars': tierhouse_build_vars()}) %}
  {% endif %}
{% endmacro %}

{#- on-run-end: close the build record with what dbt says happened to each node. -#}
{% macro tierhouse_end_build(results) %}
  {% if execute and flags.WHICH in ('build', 'run') %}
    {% set statuses = {} %}
    {% for r in results %}
      {% do statuses.update({r.node.name: {'status': r.status | string, 'type': r.node.resource_type | string,
                                           'message': r.message | string}}) %}
    {% endfor %}
    {% do adapter.store_relation('tierhouse', none, [], 'ops.builds', 'tierhouse-build-end',
          {'statuses': statuses, 'vars': tierhouse_build_vars()}) %}
  {% endif %}
{% endmacro %}

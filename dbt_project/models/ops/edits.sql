{#-
  ops.edits: LLM edits of L2 text, one per (repaired text, editor, model, prompt version), ever.
  Deterministic repairs (th_repair) run first; only texts they leave with page furniture or markup
  (th_needs_edit) go to the editor in var l3_editor, at most l3_max_llm_edits new calls per build.
  l3_refined decides, with its guards, whether an edit is used.
  Var engine: ray makes the editor's calls as a Ray Data job first (warehouse/engine/calls.py); this
  query joins its results in ops.measures.
-#}
{{ config(strategy='incremental', always_run=true, engine_plan='l3_engine_plan') }}

{{ l3_edits_ctes(var('engine') == 'ray') }},

keyed as (
    select *, md5(concat_ws(chr(31), content_hash, id.name, id.model, id.prompt_version)) as edit_id from edited
)

select
    k.edit_id, k.content_hash, k.id.name as editor, k.id.model as model, k.id.prompt_version as prompt_version,
    k.r.raw as output, k.r.status as status, k.r.error as error,
    coalesce(p.attempts, 0) + 1 as attempts, now() as edited_at,
    {{ llm_usage('k.r') }}
from keyed k
left join previous p using (edit_id)
union all by name
select * from previous where edit_id not in (select edit_id from keyed)

{#-
  ops.edits: LLM edits of L2 text, one per (repaired text, editor, model, prompt version), ever.
  Deterministic repairs (th_repair) run first; only texts they leave with page furniture or markup
  (th_needs_edit) go to the editor in var l3_editor, at most l3_max_llm_edits new calls per build.
  l3_refined decides, with its guards, whether an edit is used.
-#}
{{ config(strategy='incremental', always_run=true) }}

with repaired as (
    select th_content_hash(r) as content_hash, any_value(r) as text
    from (select th_repair(text) as r from {{ ref('l2_selected') }})
    where th_needs_edit(r) is not null
    group by 1
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
    select t.content_hash, e.id, th_judge(t.text, {{ generator_config('l3_editor') }}, (select count(*) from todo)) as r
    from todo t, editor e
),

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

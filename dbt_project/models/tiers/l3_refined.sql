{#-
  L3 refined: every L2 document after deterministic repairs (encoding, repeated lines, whitespace),
  and after an LLM edit where the repairs were not enough (th_needs_edit: page furniture or markup
  left) and the edit passes the guards.
  - The LLM edits come from ops.edits (cached per text, editor, model and prompt version; var
    l3_editor, budget l3_max_llm_edits); a document whose edit is not made yet is 'pending'.
  - Guards (var l3_guard, th_edit_guard): character similarity, length change, same language.
    The rule for a rejected, failed or pending edit: the document keeps its repaired text, and
    llm_edit says why ('rejected:drifted', 'failed', 'pending', ...). Nothing is excluded.
  - A repair that keeps less than l3_min_edit_ratio of the text is itself rejected: the L2 text stays.
  - edit_ratio: character similarity of text_before and text for LLM edits; for repairs, which
    only delete, the share of characters kept.
-#}
{{ config(strategy='incremental') }}

with l2 as (
    select doc_id, source, uri, text from {{ ref('l2_selected') }}
),

repaired as materialized (
    select doc_id, source, uri, text_before,
        case when th_edit_ratio(text_before, fixed) >= {{ var('l3_min_edit_ratio') }} then fixed else text_before end
            as repaired
    from (select doc_id, source, uri, text as text_before, th_repair(text) as fixed from l2)
),

triaged as materialized (
    select *, th_content_hash(repaired) as repaired_hash, th_needs_edit(repaired) as needs
    from repaired
),

editor as (
    select th_scorer_id({{ generator_config('l3_editor') }}) as id
),

edits as (
    select e.content_hash, e.output, e.status, e.model, e.prompt_version
    from {{ ref('edits') }} e, editor
    where e.editor = editor.id.name and e.model = editor.id.model and e.prompt_version = editor.id.prompt_version
),

guarded as materialized (
    select t.*, e.status as edit_status, e.output, e.model as edit_model, e.prompt_version as edit_version,
        case when t.needs is not null and e.status = 'ok'
             then th_edit_guard(t.repaired, e.output, '{{ tojson(var('l3_guard')) }}') end as rejected
    from triaged t
    left join edits e on e.content_hash = t.repaired_hash
),

decided as (
    select *,
        case
            when needs is null then 'not_needed'
            when edit_status is null then 'pending'
            when edit_status <> 'ok' then edit_status
            when rejected is not null then 'rejected:' || rejected
            else 'accepted'
        end as llm_edit
    from guarded
)

select
    doc_id, source, uri,
    th_content_hash(case when llm_edit = 'accepted' then output else repaired end) as content_hash,
    text_before,
    case when llm_edit = 'accepted' then output else repaired end as text,
    case when llm_edit = 'accepted' then 'llm' when repaired <> text_before then 'deterministic' else 'none' end
        as editor,
    case when llm_edit = 'accepted' then edit_model end as model,
    case when llm_edit = 'accepted' then edit_version else 'repairs-v1' end as prompt_version,
    case when llm_edit = 'accepted' then th_similarity(text_before, output) else th_edit_ratio(text_before, repaired) end
        as edit_ratio,
    llm_edit,
    case when needs is not null then repaired_hash end as edit_hash
from decided

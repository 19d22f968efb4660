{#-
  L3 refined: deterministic repairs (encoding, repeated lines, whitespace) with the text before
  kept. An edit that keeps less than l3_min_edit_ratio of the text is rejected and the document
  falls back to its L2 text (editor 'none'), so a runaway repair never loses content.
  A repair runs once per text: accepted repairs of unchanged L2 text are carried over while they
  still meet the current threshold; everything else is (re)judged.
-#}
{{ config(strategy='incremental') }}

with l2 as (
    select doc_id, source, uri, text from {{ ref('l2_selected') }}
),

carried as (
    select p.doc_id, p.source, p.uri, p.content_hash, p.text_before, p.text, p.editor, p.model,
           p.prompt_version, p.edit_ratio
    from {{ this }} p
    join l2 on p.doc_id = l2.doc_id and p.text_before = l2.text and p.source = l2.source and p.uri = l2.uri
    where p.editor = 'deterministic' and p.edit_ratio >= {{ var('l3_min_edit_ratio') }}
),

repaired as materialized (
    select doc_id, source, uri, text as text_before, th_repair(text) as repaired
    from l2
    where doc_id not in (select doc_id from carried)
),

judged as materialized (
    select *, ratio >= {{ var('l3_min_edit_ratio') }} as accepted
    from (select *, th_edit_ratio(text_before, repaired) as ratio from repaired)
),

fresh as (
    select
        doc_id, source, uri,
        th_content_hash(case when accepted then repaired else text_before end) as content_hash,
        text_before,
        case when accepted then repaired else text_before end as text,
        case when accepted then 'deterministic' else 'none' end as editor,
        cast(null as varchar) as model,
        'repairs-v1' as prompt_version,
        case when accepted then ratio else 1.0 end as edit_ratio
    from judged
)

select * from carried
union all by name
select * from fresh

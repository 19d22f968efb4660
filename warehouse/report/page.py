"""The HTML page: one file, styles inline, charts as inline SVG, no script and no external reference."""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from warehouse.report.blocks import Block, Chart, Examples, Note, Result, Section

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"DejaVu Sans",sans-serif;color:#1a1a1a;max-width:1100px;margin:0 auto;
padding:1rem 1.5rem}
h1{font-size:1.6rem;margin:.4rem 0}h2{font-size:1.25rem;border-bottom:2px solid #0072B2;padding-bottom:.2rem;
margin-top:2.2rem}nav a{margin-right:.9rem;color:#0072B2}
table{border-collapse:collapse;margin:.3rem 0;font-size:12.5px}th,td{border:1px solid #ccc;padding:2px 7px;
text-align:left;vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#eef3f8}
figure{margin:1rem 0}figcaption{font-weight:600;margin-bottom:.2rem}
pre.sql{background:#f6f6f4;border:1px solid #ddd;padding:.5rem;white-space:pre-wrap;font-size:12px;margin:.2rem 0}
details summary{cursor:pointer;color:#0072B2}.missing{color:#8a3b00;font-style:italic}.note{color:#444}
.failed{color:#D55E00;font-weight:700}.scroll{max-height:26rem;overflow:auto}svg{max-width:100%;height:auto}
"""


def show(value: Any) -> str:
    """A cell as printed: integers with thousands separators, floats as SQL rounded them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return str(value)


def _sql(sql: str, open_: bool = False) -> str:
    return (
        f"<details{' open' if open_ else ''}><summary>SQL that reproduces this (tierhouse sql)</summary>"
        f'<pre class="sql">{escape(sql)}</pre></details>'
    )


def _result(r: Result) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in r.columns)
    body = []
    for row in r.rows:
        cells = []
        for v in row:
            numeric = isinstance(v, (int, float)) and not isinstance(v, bool)
            cls = ' class="num"' if numeric else (' class="failed"' if v == "FAILED" else "")
            cells.append(f"<td{cls}>{escape(show(v))}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if not r.rows:
        table = '<p class="missing">the query returned no rows</p>'
    return (
        f'<figure class="result" id="{r.key}" data-rows="{len(r.rows)}"><figcaption>{escape(r.caption)}'
        f'</figcaption><div class="scroll">{table}</div>{_sql(r.sql)}</figure>'
    )


def _examples(e: Examples) -> str:
    items = "".join(
        f"<li><code>{escape(r['doc_id'][:12])}</code> {escape(r['source'])} "
        f"<small>{escape(r['uri'] or '')}</small><br>{escape(r['text'])}</li>"
        for r in e.rows
    )
    return (
        f'<details class="examples" id="{e.key}"><summary>{escape(e.caption)} ({len(e.rows)} shown, cut short)'
        f'</summary><ul>{items}</ul><pre class="sql">{escape(e.sql)}</pre></details>'
    )


def _block(b: Block) -> str:
    if isinstance(b, Result):
        return _result(b)
    if isinstance(b, Chart):
        return (
            f'<figure class="chart" role="img" aria-label="{escape(b.description)}">'
            f'<figcaption>{escape(b.description)} (data: <a href="#{b.source}">table below</a>)</figcaption>'
            f"{b.svg}</figure>"
        )
    if isinstance(b, Examples):
        return _examples(b)
    assert isinstance(b, Note)
    return f'<p class="note">{escape(b.text)}</p>'


def _section(s: Section) -> str:
    state = "missing" if s.missing else "present"
    body = f'<p class="missing">{escape(s.missing)}</p>' if s.missing else "".join(map(_block, s.blocks))
    return f'<section id="{s.key}" data-state="{state}"><h2>{escape(s.title)}</h2>{body}</section>'


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole page."""
    nav = "".join(f'<a href="#{s.key}">{escape(s.title)}</a>' for s in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p><nav>{nav}</nav></header>"
        f"<main>{''.join(map(_section, sections))}</main></body></html>\n"
    )

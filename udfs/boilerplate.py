"""A line pass over main-content text that drops what Resiliparse leaves around an article.

Measured on labelled news pages (benchmarks/extract.py), Resiliparse's main content keeps almost
all of an article but also the headline, bylines and dates above it and the related links, share
buttons and copyright notices below it. The article itself is the span from the first to the last
substantial line (a long line that ends a sentence, or a very long one, for scripts without full
stops); the short lines outside that span are dropped, the short lines inside it (headings, list
items) stay. A first line that repeats the page's title goes too: L1 keeps the title in its own column.
"""

from __future__ import annotations

import re

# Word tokens, counting each character of scripts written without spaces (CJK, Thai, Burmese) as one.
TOKEN = re.compile(r"[\u0e00-\u0e7f\u1000-\u109f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]|\w+")
_SENTENCE_END = tuple(".!?。！？\"'”’」)")
_FENCE = re.compile(r"^`{3,}")
_NON_WORD = re.compile(r"\W+")
MIN_TOKENS = 10  # a substantial line ending a sentence has at least this many tokens
LONG_TOKENS = 4 * MIN_TOKENS  # and one this long counts without a sentence end


def _substantial(lines: list[str]) -> list[bool]:
    """Per line: is it article text? Lines inside fenced code blocks are (code is content)."""
    marks, in_code = [], False
    for line in lines:
        if _FENCE.match(line):
            marks.append(True)
            in_code = not in_code
            continue
        n = len(TOKEN.findall(line))
        marks.append(in_code or n >= LONG_TOKENS or (n >= MIN_TOKENS and line.rstrip().endswith(_SENTENCE_END)))
    return marks


def article_span(text: str, title: str | None = None) -> str:
    """``text`` from its first to its last substantial line, less a first line repeating ``title``;
    ``text`` unchanged when no line is substantial (a short page is judged by the length rules)."""
    lines = text.splitlines()
    marks = _substantial(lines)
    if not any(marks):
        return text
    first, last = marks.index(True), len(marks) - 1 - marks[::-1].index(True)
    kept = lines[first : last + 1]
    head = _NON_WORD.sub("", kept[0]).lower()
    if head and title and head in _NON_WORD.sub("", title).lower():
        kept = kept[1:]
    return "\n".join(kept).strip()

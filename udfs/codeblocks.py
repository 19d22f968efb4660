"""Code blocks in L1 text: written by extraction as Markdown fences, masked for the prose rules.

Extraction fences every ``<pre>`` block, so code survives as code and can be recognised later. Prose
rules such as Gopher's alphabetic-word share or FineWeb's duplicated lines misjudge code, so a source
whose rule profile sets ``mask_code`` is judged with its fenced blocks removed (``l1_source_rules``;
udfs/heuristics.py), while L1 keeps the text whole.
"""

from __future__ import annotations

import re

# A fence opens a line with three or more backticks; a block closes with a run at least as long.
_FENCED = re.compile(r"^(?P<fence>`{3,})[^\n`]*\n.*?^(?P=fence)`*[ \t]*$\n?", re.MULTILINE | re.DOTALL)


def fence(code: str) -> str:
    """``code`` as a fenced block, with a fence longer than any backtick run inside it."""
    runs = re.findall(r"`{3,}", code)
    marks = "`" * max(3, max(map(len, runs), default=0) + 1)
    return f"{marks}\n{code.strip(chr(10))}\n{marks}"


def mask(text: str) -> str:
    """``text`` without its fenced code blocks: the prose a code-aware profile judges."""
    return _FENCED.sub("", text)


def has_code(text: str) -> bool:
    """Whether ``text`` holds at least one fenced block."""
    return _FENCED.search(text) is not None

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
_RUN = re.compile(r"`{3,}")  # a run of backticks inside code, which its fence must outgrow


def fence(code: str) -> str:
    """``code`` as a fenced block, with a fence longer than any backtick run inside it (the pattern
    only searches code that holds a run: it is slow on long blocks)."""
    longest = max(map(len, _RUN.findall(code)), default=0) if "```" in code else 0
    marks = "`" * max(3, longest + 1)
    return f"{marks}\n{code.strip(chr(10))}\n{marks}"


def mask(text: str) -> str:
    """``text`` without its fenced code blocks: the prose a code-aware profile judges."""
    return _FENCED.sub("", text)


def has_code(text: str) -> bool:
    """Whether ``text`` holds at least one fenced block."""
    return _FENCED.search(text) is not None

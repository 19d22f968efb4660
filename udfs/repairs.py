"""Deterministic text repairs for L3: the cheap fixes that need no model.

Applied before any LLM editor so that calls are spent only where rules do not suffice.
"""

from __future__ import annotations

import re
import unicodedata

_INLINE_SPACE = re.compile(r"[ \t\u00a0]+")
_MANY_BLANKS = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MOJIBAKE = {"â€™": "’", "â€œ": "“", "â€\x9d": "”", "â€”": "—", "â€“": "–", "Ã©": "é", "Ã¨": "è", "Ã¼": "ü"}


def fix_encoding(text: str) -> str:
    """Undo the commonest UTF-8-read-as-Latin-1 sequences and drop control characters."""
    for bad, good in _MOJIBAKE.items():
        if bad in text:
            text = text.replace(bad, good)
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


def drop_repeated_lines(text: str) -> str:
    """Keep the first occurrence of each non-empty line: navigation and footers repeat, content rarely does."""
    seen: set[str] = set()
    kept = []
    for line in text.split("\n"):
        key = line.strip()
        if key and key in seen:
            continue
        seen.add(key)
        kept.append(line)
    return "\n".join(kept)


def fix_whitespace(text: str) -> str:
    """Collapse runs of spaces, trim lines, and allow at most one blank line between paragraphs."""
    lines = (_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return _MANY_BLANKS.sub("\n\n", "\n".join(lines)).strip()


def repair(text: str) -> str:
    """All deterministic repairs, in order."""
    return fix_whitespace(drop_repeated_lines(fix_encoding(text)))


def edit_ratio(before: str, after: str) -> float:
    """Share of the original characters kept (1.0 = untouched); repairs only ever remove characters."""
    return len(after) / len(before) if before else 1.0

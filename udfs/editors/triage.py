"""Whether a text still needs an LLM after the deterministic repairs, and why.

Repairs fix encoding, repeated lines and whitespace. What they cannot fix, and an editor can, is
left-over page furniture (many short lines that are not sentences: menus, breadcrumbs, button
labels) and markup residue (tags, entities, wiki edit marks). Texts without either are done.
"""

from __future__ import annotations

import re

# tags (not <user@host> addresses), entities, wiki edit marks
_MARKUP = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*(?:\s[^<>@\n]{0,80})?/?>|&(?:[a-z]{2,8}|#\d{2,5});|\[edit\]")
_TERMINAL = (".", "!", "?", ":", ";", '"', "”", "»", ")")
MAX_FURNITURE_SHARE = 0.3


def needs_llm(text: str) -> str | None:
    """``"markup_residue"`` or ``"page_furniture"`` when an editor should look at ``text``; else None."""
    if _MARKUP.search(text):
        return "markup_residue"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) >= 5:
        furniture = sum(1 for line in lines if len(line.split()) <= 3 and not line.endswith(_TERMINAL))
        if furniture / len(lines) > MAX_FURNITURE_SHARE:
            return "page_furniture"
    return None

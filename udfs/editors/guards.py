"""Guards on an LLM edit: it must stay close to the text it edits, or it is rejected with a reason.

A rejected edit is recorded, and the document keeps its deterministically repaired text (the
rule L3 documents); nothing an LLM wrote reaches a tier unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

from udfs.langid import identify

_SIMILARITY_CHARS = 6000  # character similarity is measured on the first this-many characters


@dataclass(frozen=True)
class Limits:
    min_similarity: float = 0.6  # character-level similarity of before and after
    min_length_ratio: float = 0.5  # after / before, in characters
    max_length_ratio: float = 1.2


def similarity(before: str, after: str) -> float:
    """Character-level similarity in [0, 1] (difflib's ratio: twice the matched characters over both lengths)."""
    if not before and not after:
        return 1.0
    return SequenceMatcher(None, before[:_SIMILARITY_CHARS], after[:_SIMILARITY_CHARS], autojunk=False).ratio()


def reject_reason(before: str, after: str, limits: Limits = Limits()) -> str | None:
    """Why the edit ``before`` -> ``after`` may not be used, or None when it passes every guard."""
    if not after.strip():
        return "empty_edit"
    ratio = len(after) / max(len(before), 1)
    if ratio < limits.min_length_ratio:
        return "too_much_removed"
    if ratio > limits.max_length_ratio:
        return "too_much_added"
    if identify(before)[0] != identify(after)[0]:
        return "language_changed"
    if similarity(before, after) < limits.min_similarity:
        return "drifted"
    return None

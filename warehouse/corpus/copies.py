"""Distinct copies of real texts, for scaling a corpus up without making near-duplicates.

A copy that only appends a marker is a near-duplicate: MinHash clusters it with its original, so
L1 rejects it and L2 to L4 do not grow. Copy ``n > 0`` of a text instead shuffles the words of
every line (the last word stays last, so lines still end in their punctuation), seeded by ``n`` and
the line: word counts, language and most line rules stay, while the word shingles MinHash compares
change, so a copy is a new document to every dedup rule.
"""

from __future__ import annotations

import random
import re

_TEXT_BETWEEN_TAGS = re.compile(r">([^<]+)<")


def shuffle_line(line: str, seed: str) -> str:
    """``line``'s words in a seeded order, its last word kept last and its indentation kept."""
    words = line.split()
    if len(words) < 3:
        return line
    head = words[:-1]
    random.Random(seed).shuffle(head)
    return line[: len(line) - len(line.lstrip())] + " ".join([*head, words[-1]])


def distinct_copy(text: str, copy: int) -> str:
    """Copy ``copy`` of a plain text: itself for 0, else every line's words shuffled (see module)."""
    if copy == 0:
        return text
    return "\n".join(shuffle_line(line, f"{copy}:{line}") for line in text.split("\n"))


def distinct_html_copy(markup: str, copy: int) -> str:
    """Copy ``copy`` of an HTML page: the words of the text between tags shuffled, markup untouched."""
    if copy == 0:
        return markup
    return _TEXT_BETWEEN_TAGS.sub(lambda m: f">{distinct_copy(m.group(1), copy)}<", markup)

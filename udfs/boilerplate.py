"""A block pass over main-content text that drops what Resiliparse leaves around an article.

Measured on labelled news pages (benchmarks/extract.py), Resiliparse's main content keeps almost
all of an article but also the headline, bylines and dates above it and the related links, share
buttons, app promotions and author notes below it. The pass finds the article's substantial lines
(a long line that ends a sentence, or a very long one, for scripts without full stops) and groups
them into blocks: a run of three or more short lines (links, buttons, labels) ends a block. The
article is the span from the first to the last block that holds at least a fifth of the largest
block's words; the short lines outside that span are dropped, those inside it (headings, list items)
stay. A first line that repeats the page's title goes too: L1 keeps the title in its own column.
"""

from __future__ import annotations

import re

# Word tokens, counting each character of scripts written without spaces (CJK, Thai, Burmese) as one.
_UNSPACED = "\u0e00-\u0e7f\u1000-\u109f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{_UNSPACED}]|\w+")
_HAS_UNSPACED = re.compile(f"[{_UNSPACED}]")
_SENTENCE_END = tuple(".!?。！？\"'”’」)")
_NON_WORD = re.compile(r"\W+")
MIN_TOKENS = 10  # a substantial line ending a sentence has at least this many tokens
LONG_TOKENS = 4 * MIN_TOKENS  # and one this long counts without a sentence end
BLOCK_GAP = 3  # this many short lines in a row end a block of article text
MIN_BLOCK_SHARE = 0.2  # a block is part of the article if it has this share of the largest block's words


def _words(line: str) -> int:
    """Words of a line: split on spaces, as ``TOKEN`` would within a few percent but about four
    times faster; ``TOKEN`` itself for lines in scripts written without spaces."""
    if line.isascii() or not _HAS_UNSPACED.search(line):
        return len(line.split())
    return len(TOKEN.findall(line))


def _weights(lines: list[str]) -> list[int | None]:
    """Per line: its words if it is article text, else None. Lines inside fenced code blocks are
    article text (code is content)."""
    weights: list[int | None] = []
    in_code = False
    for line in lines:
        fence = line.startswith("```")
        in_code ^= fence
        if fence or in_code:
            weights.append(_words(line))
        elif len(line) < MIN_TOKENS:  # too short to hold MIN_TOKENS words
            weights.append(None)
        else:
            n = _words(line)
            weights.append(
                n if n >= LONG_TOKENS or (n >= MIN_TOKENS and line.rstrip().endswith(_SENTENCE_END)) else None
            )
    return weights


def _blocks(lines: list[str], weights: list[int | None]) -> list[tuple[int, int, int]]:
    """(first line, last line, words) of each run of article lines, runs split by ``BLOCK_GAP``
    short lines; blank lines do not count."""
    blocks: list[tuple[int, int, int]] = []
    short = 0
    for i, (line, words) in enumerate(zip(lines, weights, strict=True)):
        if words is None:
            short += bool(line.strip())
            continue
        if blocks and short < BLOCK_GAP:
            first, _, total = blocks[-1]
            blocks[-1] = (first, i, total + words)
        else:
            blocks.append((i, i, words))
        short = 0
    return blocks


def article_span(text: str, title: str | None = None) -> str:
    """``text`` from its first to its last article block, less a first line repeating ``title``;
    ``text`` unchanged when no line is substantial (a short page is judged by the length rules)."""
    lines = text.splitlines()
    blocks = _blocks(lines, _weights(lines))
    if not blocks:
        return text
    largest = max(words for _, _, words in blocks)
    kept = [(first, last) for first, last, words in blocks if words >= MIN_BLOCK_SHARE * largest]
    span = lines[kept[0][0] : kept[-1][1] + 1]
    head = _NON_WORD.sub("", span[0]).lower()
    if head and title and head in _NON_WORD.sub("", title).lower():
        span = span[1:]
    return "\n".join(span).strip()

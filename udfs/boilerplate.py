"""A block pass over main-content text that drops what Resiliparse leaves around an article.

Measured on labelled news pages (benchmarks/extract.py), Resiliparse's main content keeps almost
all of an article but also the headline, bylines and dates above it and the related links, share
buttons, app promotions and author notes below it. The pass finds the article's substantial lines
(a long line that ends a sentence, or a very long one, for scripts without full stops) and groups
them into blocks: a run of three or more short lines (links, buttons, labels) ends a block. The
article is the span from the first to the last block that holds at least a fifth of the largest
block's words; the short lines outside that span are dropped, those inside it (headings, list items)
stay. A first line that repeats the page's title goes too: L1 keeps the title in its own column.

A short main content is not trusted (``recover``): Resiliparse's rules sometimes cut an article at a
section whose class name looks like boilerplate, or keep only its lede. Then the same pass over the
whole page's text says what the cut left out: the main content grows by the rest of the article block
it sits in, and a main content with almost no article text gives way to the whole page's article span.
"""

from __future__ import annotations

import re
from typing import NamedTuple

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
SHORT_ARTICLE = 200  # a main content with fewer article words than this is checked against the whole page
LOST_ARTICLE = 50  # one with fewer than this is replaced by the whole page's article span ...
WHOLE_PAGE_FACTOR = 4  # ... if that holds this many times as many article words (and LOST_ARTICLE's)


def _tokens(line: str) -> list[str]:
    """Words of a line: split on spaces, as ``TOKEN`` would within a few percent but about four
    times faster; ``TOKEN`` itself for lines in scripts written without spaces."""
    if line.isascii() or not _HAS_UNSPACED.search(line):
        return line.split()
    return TOKEN.findall(line)


def _weights(text: str) -> tuple[list[str], list[int | None]]:
    """The lines of ``text`` and per line its words if it is article text, else None. Lines inside
    fenced code blocks are article text (code is content). Line by line is the hot path: an ASCII
    text skips the per-line script check, a text without fences the code pass, and a line is only
    split when it is long enough to reach its threshold (a word takes at least one character)."""
    lines = text.splitlines()
    split = str.split if text.isascii() else _tokens
    ends = _SENTENCE_END
    weights = [
        n
        if len(line) >= MIN_TOKENS
        and len(line) >= (least := MIN_TOKENS if line.rstrip().endswith(ends) else LONG_TOKENS)
        and (n := len(split(line))) >= least
        else None
        for line in lines
    ]
    if "```" in text:  # fences pair up in order; an unclosed one runs to the end
        fences = [i for i, line in enumerate(lines) if line.startswith("```")]
        for opening, closing in zip(fences[::2], [*fences[1::2], len(lines) - 1], strict=False):
            weights[opening : closing + 1] = [len(split(line)) for line in lines[opening : closing + 1]]
    return lines, weights


def _blocks(lines: list[str], weights: list[int | None]) -> list[tuple[int, int, int]]:
    """(first line, last line, words) of each run of article lines, runs split by ``BLOCK_GAP``
    short lines; blank lines do not count. Only the gaps of at least ``BLOCK_GAP`` lines between
    article lines are looked into."""
    blocks: list[tuple[int, int, int]] = []
    previous = 0
    for i, words in enumerate(weights):
        if words is None:
            continue
        if blocks and (
            i - previous <= BLOCK_GAP or sum(map(bool, map(str.strip, lines[previous + 1 : i]))) < BLOCK_GAP
        ):
            first, _, total = blocks[-1]
            blocks[-1] = (first, i, total + words)
        else:
            blocks.append((i, i, words))
        previous = i
    return blocks


def article_span(text: str, title: str | None = None) -> str:
    """``text`` from its first to its last article block, less a first line repeating ``title``;
    ``text`` unchanged when no line is substantial (a short page is judged by the length rules)."""
    return measured_span(text, title)[0]


class _Passes(NamedTuple):
    """What the line and block pass find in a text, kept to be read more than once."""

    lines: list[str]
    weights: list[int | None]
    blocks: list[tuple[int, int, int]]


def _passes(text: str) -> _Passes:
    """The line and block pass over ``text``."""
    lines, weights = _weights(text)
    return _Passes(lines, weights, _blocks(lines, weights))


def measured_span(text: str, title: str | None = None) -> tuple[str, int]:
    """``article_span`` and the article words it holds, counted once (extraction's hot path)."""
    return _span(text, _passes(text), title)


def _span(text: str, passes: _Passes, title: str | None) -> tuple[str, int]:
    """``measured_span`` of ``text``, from the passes over it."""
    lines, weights, blocks = passes
    if not blocks:
        return text, 0
    largest = max(words for _, _, words in blocks)
    kept = [(first, last) for first, last, words in blocks if words >= MIN_BLOCK_SHARE * largest]
    first, last = kept[0][0], kept[-1][1]
    head = _NON_WORD.sub("", lines[first]).lower()
    if head and title and head in _NON_WORD.sub("", title).lower():
        first += 1
    words = sum(filter(None, weights[first : last + 1]))
    return "\n".join(lines[first : last + 1]).strip(), words


def article_words(text: str) -> int:
    """Words in the substantial lines of ``text``: how much article it holds."""
    return sum(filter(None, _weights(text)[1]))


def _grow(span: str, page: _Passes) -> str:
    """``span`` (a main content's article span) with the rest of the article blocks of ``page`` (the
    passes over the whole page's text) that its first and last substantial lines sit in, before and
    after it."""
    (lines, weights), page_lines = _weights(span), page.lines
    substantial = [i for i, words in enumerate(weights) if words]
    try:
        start = page_lines.index(lines[substantial[0]])
        end = page_lines.index(lines[substantial[-1]], start)
    except (IndexError, ValueError):  # no substantial line, or the page's text is laid out differently
        return span
    before: list[str] = []
    after: list[str] = []
    for first, last, _ in page.blocks:
        if first <= start <= last:
            before = page_lines[first:start]
        if first <= end <= last:
            after = page_lines[end + 1 : last + 1]
    if not before and not after:
        return span
    return "\n".join([*before, *lines[substantial[0] : substantial[-1] + 1], *after])


def recover(span: str, page: str, title: str | None = None) -> str:
    """The article of a page whose main-content span holds fewer than ``SHORT_ARTICLE`` article
    words, judged against ``page``, the whole page's text: see the module's docstring. The page's
    lines are weighed once, for both the growth and the whole page's span."""
    passes = _passes(page)
    grown = _grow(span, passes)
    words = article_words(grown)
    if words < LOST_ARTICLE:
        whole = _span(page, passes, title)[0]
        if article_words(whole) >= WHOLE_PAGE_FACTOR * max(words, LOST_ARTICLE):
            return whole
    return grown

"""Heuristic quality rules with the definitions, defaults and reason names of DataTrove's filters:
Gopher quality, Gopher repetition, C4 quality (and C4 bad words), FineWeb quality.

Each rule is a small class whose ``filter(view)`` returns ``None`` to keep a document or the
reason it fails. A :class:`TextView` tokenises a document once, into the tokens spaCy's English
tokenizer gives (the one DataTrove uses, so word counts are identical), and every rule reads that one pass:
C4's per-line sentence counts come from the same tokens rather than a tokenizer call per line.
"""

from __future__ import annotations

import bisect
import json
import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import cache, lru_cache

import numpy as np
import pandas as pd
import regex

from udfs import codeblocks

# Punctuation as DataTrove counts it: ASCII punctuation, typographic quotes and dashes, CJK and
# full-width marks, and the C0/C1 control characters other than tab and newline.
PUNCTUATION = (
    set(string.punctuation)
    | set("—–“”’„«»…´►")
    | set("、。，；：？！（）《》〈〉【】「」━％１～∶．")
    | {chr(c) for c in (*range(0, 9), *range(11, 32), *range(127, 160))}
)
# Unicode's Sentence_Terminal characters (full stops, question and exclamation marks of every script).
TERMINAL_PUNCTUATION = frozenset(regex.findall(r"\p{Sentence_Terminal}", "".join(map(chr, range(sys.maxunicode + 1)))))
PUNCTUATION_SET = PUNCTUATION | TERMINAL_PUNCTUATION
STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})

# -- tokenisation ---------------------------------------------------------------------------------


class SpanTokenizer:
    """spaCy's English tokenizer (no model, no download), applied one whitespace-separated span at a time.

    spaCy itself splits text at whitespace and tokenises each span on its own, so the tokens are
    the same; but spans of letters (optionally ending in one punctuation mark that spaCy always
    splits off) need no spaCy call at all, and the rest go through an LRU cache. That skips most
    of spaCy's per-token work; tests/test_heuristics_parity.py checks the tokens equal spaCy's.

    Memory stays flat however much text passes: spaCy adds every new token string to its vocabulary
    and every new span to its own cache, and never lets go of either, so once the vocabulary holds
    ``max_strings`` strings or ``max_spans`` spans went through it, the tokenizer is built afresh
    (about 0.2 s). Tokens depend only on spaCy's rules, never on what its vocabulary holds.
    """

    _SPAN = re.compile(r"\S+")
    _SPLIT_OFF = frozenset(",;:!?.")
    CACHE_SPANS = 250_000
    MAX_STRINGS = 500_000
    MAX_SPANS = 500_000

    def __init__(self, cache_spans: int = CACHE_SPANS, max_strings: int = MAX_STRINGS, max_spans: int = MAX_SPANS):
        self.max_strings, self.max_spans = max_strings, max_spans
        self.rebuilds = self.spans = 0  # tokenizers built afresh; spans the current one has seen
        self.spacy = self._fresh()
        self.special = frozenset(self.spacy.rules)
        self._span = lru_cache(maxsize=cache_spans)(self._spacy_tokens)

    def cache_info(self):
        """The span cache's hits, misses (spans spaCy tokenised) and size."""
        return self._span.cache_info()

    @staticmethod
    def _fresh():
        import spacy

        return spacy.blank("en").tokenizer

    def _spacy_tokens(self, span: str) -> list[tuple[str, int]]:
        tokens = [(t.text, t.idx) for t in self.spacy(span)]
        self.spans += 1
        if self.spans >= self.max_spans or len(self.spacy.vocab.strings) >= self.max_strings:
            self.spacy, self.spans = self._fresh(), 0
            self.rebuilds += 1
        return tokens

    def __call__(self, text: str) -> list[tuple[str, int]]:
        """(text, character offset) of every token; whitespace is not a token here."""
        out: list[tuple[str, int]] = []
        special = self.special
        for match in self._SPAN.finditer(text):
            span, start = match.group(), match.start()
            if span.isalpha() and span not in special:
                out.append((span, start))
                continue
            head, last = span[:-1], span[-1]
            if (
                last in self._SPLIT_OFF
                and head.isalpha()
                and span not in special
                and head not in special
                and (last != "." or (head.isascii() and head[-1].islower()))  # "U.S." and "A." stay whole
            ):
                out += ((head, start), (last, start + len(head)))
                continue
            out += ((token, start + offset) for token, offset in self._span(span))
        return out


@cache
def _tokenizer() -> SpanTokenizer:
    return SpanTokenizer()


def _is_punct(text: str) -> bool:
    return bool(text) and all(unicodedata.category(c).startswith("P") for c in text)


class TextView:
    """One document as the rules see it: tokens (text and offset) from one tokenizer pass, and lines."""

    __slots__ = ("text", "_tokens", "_words", "_lines", "_counts")

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens: list[tuple[str, int]] | None = None
        self._words: list[str] | None = None
        self._lines: list[str] | None = None
        self._counts: Counter[str] | None = None

    @property
    def word_counts(self) -> Counter[str]:
        """How often each word occurs: per-word tests run once per distinct word."""
        if self._counts is None:
            self._counts = Counter(self.words)
        return self._counts

    @property
    def tokens(self) -> list[tuple[str, int]]:
        """(text, character offset) of every word token."""
        if self._tokens is None:
            self._tokens = _tokenizer()(self.text)
        return self._tokens

    @property
    def words(self) -> list[str]:
        """Word tokens, whitespace dropped: what DataTrove's ``split_into_words`` returns."""
        if self._words is None:
            self._words = [t for t, _ in self.tokens]
        return self._words

    @property
    def lines(self) -> list[str]:
        """``str.splitlines`` lines, as the Gopher and C4 rules split them."""
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines

    def tokens_between(self, start: int, end: int) -> list[str]:
        """Word tokens that begin within characters ``start``..``end`` (tokens are in offset order)."""
        tokens = self.tokens
        lo = bisect.bisect_left(tokens, start, key=lambda t: t[1])
        hi = bisect.bisect_left(tokens, end, lo=lo, key=lambda t: t[1])
        return [t for t, _ in tokens[lo:hi]]


def count_sentences(tokens: list[str]) -> int:
    """Sentences as spaCy's sentencizer finds them: after end punctuation, the next non-punctuation
    token starts a sentence."""
    if not tokens:
        return 0
    sentences, seen_end = 1, False
    for token in tokens:
        at_end = token in TERMINAL_PUNCTUATION
        if seen_end and not _is_punct(token) and not at_end:
            sentences += 1
            seen_end = False
        elif at_end:
            seen_end = True
    return sentences


# -- rules ----------------------------------------------------------------------------------------


class GopherQuality:
    """Gopher's quality heuristics (Rae et al. 2021, table A1), DataTrove's defaults."""

    name = "gopher_quality"

    def __init__(
        self,
        min_doc_words: int | None = 50,
        max_doc_words: int | None = 100000,
        min_avg_word_length: int | None = 3,
        max_avg_word_length: int | None = 10,
        max_symbol_word_ratio: float | None = 0.1,
        max_bullet_lines_ratio: float | None = 0.9,
        max_ellipsis_lines_ratio: float | None = 0.3,
        max_non_alpha_words_ratio: float | None = 0.8,
        min_stop_words: int | None = 2,
        stop_words: Iterable[str] = STOP_WORDS,
    ) -> None:
        self.min_doc_words, self.max_doc_words = min_doc_words, max_doc_words
        self.min_avg_word_length, self.max_avg_word_length = min_avg_word_length, max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.max_non_alpha_words_ratio = max_non_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(stop_words)

    def filter(self, view: TextView) -> str | None:
        text, tokens = view.text, view.words
        n_words = len(tokens)
        counts = view.word_counts
        content = [(w, n) for w, n in counts.items() if _is_content(w)]
        n_content = sum(n for _, n in content)
        if self.min_doc_words and n_content < self.min_doc_words:
            return "gopher_short_doc"
        if self.max_doc_words and n_content > self.max_doc_words:
            return "gopher_long_doc"
        mean_length = sum(len(w) * n for w, n in content) / n_content if n_content else float("nan")
        if self.min_avg_word_length and mean_length < self.min_avg_word_length:
            return "gopher_below_avg_threshold"
        if self.max_avg_word_length and mean_length > self.max_avg_word_length:
            return "gopher_above_avg_threshold"
        if self.max_symbol_word_ratio and text.count("#") / n_words > self.max_symbol_word_ratio:
            return "gopher_too_many_hashes"
        if self.max_symbol_word_ratio and (text.count("...") + text.count("…")) / n_words > self.max_symbol_word_ratio:
            return "gopher_too_many_ellipsis"
        lines = view.lines
        bullets = sum(s.lstrip().startswith(("•", "-")) for s in lines)
        if self.max_bullet_lines_ratio and bullets / len(lines) > self.max_bullet_lines_ratio:
            return "gopher_too_many_bullets"
        ellipses = sum(s.rstrip().endswith(("...", "…")) for s in lines)
        if self.max_ellipsis_lines_ratio and ellipses / len(lines) > self.max_ellipsis_lines_ratio:
            return "gopher_too_many_end_ellipsis"
        alpha = sum(n for w, n in counts.items() if _has_alpha(w))
        if self.max_non_alpha_words_ratio and alpha / n_words < self.max_non_alpha_words_ratio:
            return "gopher_below_alpha_threshold"
        if self.min_stop_words and len(self.stop_words.intersection(counts)) < self.min_stop_words:
            return "gopher_enough_stop_words"
        return None


def _is_content(word: str) -> bool:
    """A word with at least one character that is not punctuation."""
    return any(ch not in PUNCTUATION_SET for ch in word)


def _has_alpha(word: str) -> bool:
    return any(c.isalpha() for c in word)


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(repeated elements, characters in repeats): every occurrence after the first counts."""
    seen: set[str] = set()
    elements = chars = 0
    for item in items:
        if item in seen:
            elements += 1
            chars += len(item)
        else:
            seen.add(item)
    return elements, chars


class _NGrams:
    """The n-grams of a word sequence as integers: each word is numbered (pandas factorize, in C)
    and an n-gram is a polynomial hash of its word numbers, so n-grams compare as whole numbers.
    Collisions need two different n-grams to agree on 64 bits."""

    def __init__(self, tokens: list[str]) -> None:
        codes, _ = pd.factorize(pd.Series(tokens, dtype=object))
        self.ids = codes.astype(np.uint64) + np.uint64(1)
        self.letters = np.concatenate(([0], np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens)).cumsum()))

    def keys(self, n: int) -> np.ndarray:
        count = len(self.ids) - n + 1
        keys = np.zeros(max(count, 0), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(n):
                keys = keys * np.uint64(1_000_003) + self.ids[j : j + count]
        return keys

    def letters_in(self, n: int) -> np.ndarray:
        """Letters in the n-gram starting at each position (its words run together)."""
        return self.letters[n:] - self.letters[: len(self.letters) - n]


def _top_ngram_chars(grams: _NGrams, n: int) -> int:
    """Characters the most frequent n-gram covers: its space-joined length times its count (ties go
    to the n-gram seen first, as ``Counter.most_common`` does)."""
    keys = grams.keys(n)
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    top = counts.max()
    at = int(first[counts == top].min())
    return int(grams.letters_in(n)[at] + n - 1) * int(top)


def _repeated_ngram_chars(grams: _NGrams, n: int, limit: float) -> float:
    """Characters in repeated n-grams (DataTrove's definition: scan left to right, a repeat counts its
    letters and skips its n words), or any value not above ``limit`` once that is certain.

    Every counted repeat has an earlier occurrence, so the letters of all later occurrences bound the
    count from above: when that bound is within ``limit`` the scan is not needed, and real text
    almost always ends there. The scan itself visits only n-grams that occur more than once: the
    others can neither count nor make a later one count.
    """
    keys = grams.keys(n)
    if not len(keys):
        return 0
    sizes = grams.letters_in(n)
    series = pd.Series(keys)
    bound = int(sizes[series.duplicated(keep="first").to_numpy()].sum())
    if bound <= limit:
        return bound
    seen: set[int] = set()
    repeated = position = 0
    shared = np.flatnonzero(series.duplicated(keep=False).to_numpy())
    for p, key in zip(shared.tolist(), keys[shared].tolist(), strict=True):
        if p < position:
            continue
        if key in seen:
            repeated += int(sizes[p])
            position = p + n
        else:
            seen.add(key)
            position = p + 1
    return repeated


class GopherRepetition:
    """Gopher's repetition heuristics: duplicate lines, paragraphs and n-grams, DataTrove's defaults."""

    name = "gopher_repetition"
    _paragraphs = re.compile(r"\n{2,}")
    _lines = re.compile("\n+")

    def __init__(
        self,
        dup_line_frac: float | None = 0.3,
        dup_para_frac: float | None = 0.3,
        dup_line_char_frac: float | None = 0.2,
        dup_para_char_frac: float | None = 0.2,
        top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16)),
        dup_n_grams: tuple[tuple[int, float], ...] = (
            (5, 0.15),
            (6, 0.14),
            (7, 0.13),
            (8, 0.12),
            (9, 0.11),
            (10, 0.10),
        ),
    ) -> None:
        self.dup_line_frac, self.dup_para_frac = dup_line_frac, dup_para_frac
        self.dup_line_char_frac, self.dup_para_char_frac = dup_line_char_frac, dup_para_char_frac
        self.top_n_grams, self.dup_n_grams = top_n_grams, dup_n_grams

    def filter(self, view: TextView) -> str | None:
        text = view.text
        if not text:
            return "empty"
        paragraphs = self._paragraphs.split(text.strip())
        repeated, chars = _duplicates(paragraphs)
        if self.dup_para_frac and repeated / len(paragraphs) > self.dup_para_frac:
            return "dup_para_frac"
        if self.dup_para_char_frac and chars / len(text) > self.dup_para_char_frac:
            return "dup_para_char_frac"
        lines = self._lines.split(text)
        repeated, chars = _duplicates(lines)
        if self.dup_line_frac and repeated / len(lines) > self.dup_line_frac:
            return "dup_line_frac"
        if self.dup_line_char_frac and chars / len(text) > self.dup_line_char_frac:
            return "dup_line_char_frac"
        tokens = view.words
        grams = _NGrams(tokens)
        for n, limit in self.top_n_grams:
            if len(tokens) >= n and _top_ngram_chars(grams, n) / len(text) > limit:
                return f"top_{n}_gram"
        for n, limit in self.dup_n_grams:
            if _repeated_ngram_chars(grams, n, limit * len(text)) / len(text) > limit:
                return f"duplicated_{n}_n_grams"
        return None


_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


class C4Quality:
    """C4's line and page rules (Raffel et al. 2020) as DataTrove applies them: a page must keep at
    least five sentences in lines that end in terminal punctuation and have three or more words;
    "lorem ipsum" or a curly bracket drops the page."""

    name = "c4_quality"

    def __init__(
        self,
        min_num_sentences: int = 5,
        min_words_per_line: int = 3,
        max_word_length: int = 1000,
        filter_lorem_ipsum: bool = True,
        filter_javascript: bool = True,
        filter_curly_bracket: bool = True,
        filter_policy: bool = True,
        filter_no_terminal_punct: bool = True,  # FineWeb's recipe sets it false: lines need no end mark
    ) -> None:
        self.filter_no_terminal_punct = filter_no_terminal_punct
        self.min_num_sentences, self.min_words_per_line = min_num_sentences, min_words_per_line
        self.max_word_length = max_word_length
        self.filter_lorem_ipsum, self.filter_javascript = filter_lorem_ipsum, filter_javascript
        self.filter_curly_bracket, self.filter_policy = filter_curly_bracket, filter_policy

    def kept_lines(self, view: TextView) -> tuple[list[str], int, str | None]:
        """(lines C4 keeps, sentences in them, page-level reason if the page is dropped)."""
        sentences, kept = 0, []
        offset = 0
        for raw in view.lines:
            start = view.text.find(raw, offset) if raw else offset
            offset = start + len(raw)
            line = raw.strip()
            parts = line.split()
            if self.max_word_length != -1 and any(len(p) > self.max_word_length for p in parts):
                continue
            line = _CITATION.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith((".", "?", "!", '"', "'")) or line.endswith("...")):
                continue
            if len(parts) < self.min_words_per_line:
                continue
            lower = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lower:
                return kept, sentences, "lorem_ipsum"
            if self.filter_javascript and "javascript" in lower:
                continue
            if self.filter_curly_bracket and "{" in line:
                return kept, sentences, "curly_bracket"
            if self.filter_policy and any(p in lower for p in _POLICY):
                continue
            cited = _CITATION.search(raw) is not None  # the line changed: tokenise what C4 sees
            tokens = TextView(line).words if cited else view.tokens_between(start, start + len(raw))
            sentences += count_sentences(tokens)
            kept.append(line)
        return kept, sentences, None

    def rewrite(self, view: TextView) -> tuple[str | None, str | None]:
        """(the page as DataTrove's filter leaves it: its kept lines, or None if dropped; the reason)."""
        kept, sentences, reason = self.kept_lines(view)
        if reason:
            return None, reason
        if self.min_num_sentences != -1 and sentences < self.min_num_sentences:
            return None, "too_few_sentences"
        return "\n".join(kept).strip(), None

    def filter(self, view: TextView) -> str | None:
        return self.rewrite(view)[1]


class C4BadWords:
    """Drop pages containing a word from a bad-words list (C4's LDNOOBW rule); the list is supplied."""

    name = "c4_badwords"

    def __init__(self, bad_words: Iterable[str]) -> None:
        terms = sorted({w.strip().lower() for w in bad_words if w.strip()}, key=len, reverse=True)
        self.pattern = re.compile(r"(?:\W|^)(" + "|".join(map(re.escape, terms)) + r")(?:\W|$)") if terms else None

    def filter(self, view: TextView) -> str | None:
        if self.pattern is not None and self.pattern.search(view.text.lower()):
            return "document_removed_with_badwords"
        return None


class FineWebQuality:
    """FineWeb's rules (Penedo et al. 2024): line punctuation, short lines, duplicated line characters
    and list-like documents, DataTrove's defaults."""

    name = "fineweb_quality"

    def __init__(
        self,
        line_punct_thr: float = 0.12,
        line_punct_exclude_zero: bool = False,
        short_line_thr: float = 0.67,
        short_line_length: int = 30,
        char_duplicates_ratio: float = 0.01,
        new_line_ratio: float = 0.3,
    ) -> None:
        self.line_punct_thr, self.line_punct_exclude_zero = line_punct_thr, line_punct_exclude_zero
        self.short_line_thr, self.short_line_length = short_line_thr, short_line_length
        self.char_duplicates_ratio, self.new_line_ratio = char_duplicates_ratio, new_line_ratio
        self.stop_chars = tuple(TERMINAL_PUNCTUATION)

    def filter(self, view: TextView) -> str | None:
        text = view.text
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            return "empty"
        ratio = sum(1 for line in lines if line.endswith(self.stop_chars)) / len(lines)
        if ratio < self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
            return "line_punct_ratio"
        if sum(1 for line in lines if len(line) <= self.short_line_length) / len(lines) > self.short_line_thr:
            return "short_line_ratio"
        if _duplicates(lines)[1] / len(text.replace("\n", "")) > self.char_duplicates_ratio:
            return "char_dup_ratio"
        if text.count("\n") / len(view.words) > self.new_line_ratio:
            return "list_ratio"
        return None


RULE_TYPES = {rule.name: rule for rule in (GopherQuality, GopherRepetition, C4Quality, FineWebQuality)}
DEFAULT_RULES = tuple(rule() for rule in RULE_TYPES.values())


MASK_CODE = "mask_code"  # a profile key beside the rules: judge the text with its fenced code blocks removed


@lru_cache(maxsize=32)
def masks_code(overrides: str = "{}") -> bool:
    """Whether a rule profile (``l1_rules`` merged with the source's ``l1_source_rules``) masks code."""
    value = (json.loads(overrides or "{}") or {}).get(MASK_CODE, False)
    if not isinstance(value, bool):
        raise ValueError(f"l1_source_rules: {MASK_CODE} must be true or false, not {value!r}")
    return value


@lru_cache(maxsize=32)
def configured_rules(overrides: str = "{}") -> tuple:
    """The rule set with DataTrove's defaults changed by JSON ``{"<rule>": {"<parameter>": value}}``;
    ``{"<rule>": false}`` turns a rule off. This is how the ``l1_rules`` dbt var reaches the rules."""
    changes = json.loads(overrides or "{}")
    if isinstance(changes, dict):
        changes.pop(MASK_CODE, None)
    if not isinstance(changes, dict) or set(changes) - set(RULE_TYPES):
        raise ValueError(
            f"l1_rules names unknown rules {sorted(set(changes) - set(RULE_TYPES))}; known: {sorted(RULE_TYPES)}"
        )
    rules = []
    for name, rule in RULE_TYPES.items():
        change = changes.get(name, {})
        if change is False:
            continue
        try:
            rules.append(rule(**{k: tuple(map(tuple, v)) if isinstance(v, list) else v for k, v in change.items()}))
        except TypeError as exc:
            raise ValueError(f"l1_rules.{name}: {exc}") from exc
    return tuple(rules)


def flags(view: TextView, rules: Iterable = DEFAULT_RULES) -> list[str]:
    """``rule:reason`` for every rule the document fails (empty when all pass)."""
    return [f"{rule.name}:{reason}" for rule in rules if (reason := rule.filter(view)) is not None]


def flag_texts(texts: list[str], overrides: list[str] | None = None) -> list[list[str]]:
    """:func:`flags` for a batch of texts; ``overrides`` holds each text's :func:`configured_rules` JSON
    (its source's profile), which may mask fenced code blocks for the rules."""
    if not overrides:
        return [flags(TextView(text)) for text in texts]
    return [
        flags(TextView(codeblocks.mask(text) if masks_code(o) else text), configured_rules(o))
        for text, o in zip(texts, overrides, strict=True)
    ]

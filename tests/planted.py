"""Near-duplicates planted at known Jaccard into real documents, for the dedup quality test and benchmark.

Each base document (a State of the Union address or a SpamAssassin e-mail from the bundled corpus)
gets one variant made by one kind of change: word edits, reordered sentences, or swapped
boilerplate. The strength of the change is searched so that the exact Jaccard of the two shingle
sets lands on a drawn target: positives in [0.8, 0.97], hard negatives in [0.3, 0.6]. The truth of
every pair is its exact Jaccard, measured, not the target.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from udfs.dedup import simplified_words

KINDS = ("edit", "reorder", "boilerplate")
POSITIVE = (0.8, 0.97)
NEGATIVE = (0.3, 0.6)
_BOILERPLATE = (
    "Home | About us | Contact | Privacy policy | Terms of use",
    "Subscribe to our newsletter for weekly updates and special offers.",
    "Copyright (c) all rights reserved. Reproduction without permission is prohibited.",
    "Share this page on social media. Follow us for more stories like this one.",
    "Skip to main content. Search this site. Menu. Log in or register.",
    "This message was sent to you because you signed up at our website; click here to unsubscribe.",
    "Related articles: more from this section, most popular, editor's picks, latest news.",
    "Advertisement. Continue reading below. Sponsored content from our partners.",
)


@dataclass(frozen=True)
class Pair:
    base: int  # index of the base document
    text: str  # the variant
    kind: str
    jaccard: float  # exact, of the 5-word shingle sets


def shingle_set(text: str, size: int = 5) -> set[tuple[str, ...]]:
    words = simplified_words(text)
    if len(words) < size:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def real_documents(corpus, min_words: int = 120, max_words: int = 5000) -> list[str]:
    """Addresses and e-mails of ``min_words`` to ``max_words`` words, in a fixed order."""
    texts = [json.loads(p.read_text())["text"] for p in sorted(corpus["sotu"].paths[0].glob("*.json"))]
    texts += [json.loads(p.read_text())["text"] for p in sorted(corpus["spamassassin"].paths[0].glob("*/*.json"))]
    return [t for t in texts if min_words <= len(t.split()) <= max_words]


def _edit(text: str, strength: float, rng: random.Random, donor: list[str]) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), round(strength * len(words))):
        words[i] = rng.choice(donor)
    return " ".join(words)


def _reorder(text: str, strength: float, rng: random.Random, donor: list[str]) -> str:
    sentences = re.split(r"(?<=[.!?])\s+", text)
    chosen = rng.sample(range(len(sentences)), round(strength * len(sentences)))
    moved = [sentences[i] for i in chosen]
    rng.shuffle(moved)
    for i, sentence in zip(chosen, moved, strict=True):
        sentences[i] = sentence
    return " ".join(sentences)


def _boilerplate(text: str, strength: float, rng: random.Random, donor: list[str]) -> str:
    """Drop the text's first and last lines and wrap it in site furniture of about ``strength`` its length."""
    lines = text.splitlines()
    body = "\n".join(lines[1:-1]) if len(lines) > 3 else text
    budget = int(strength * len(text.split()))
    furniture: list[str] = []
    while budget > 0:
        furniture.append(rng.choice(_BOILERPLATE))
        budget -= len(furniture[-1].split())
    half = len(furniture) // 2
    return "\n".join([*furniture[:half], body, *furniture[half:]])


_CHANGE: dict[str, Callable[[str, float, random.Random, list[str]], str]] = {
    "edit": _edit,
    "reorder": _reorder,
    "boilerplate": _boilerplate,
}


def make_variant(
    text: str, kind: str, target: float, seed: int, donor: list[str], band: tuple[float, float] = (0.0, 1.0)
) -> tuple[str, float] | None:
    """A variant whose exact Jaccard with ``text`` is within 0.02 of ``target`` and inside ``band``,
    or None if out of reach."""
    base = shingle_set(text)
    low, high = 0.0, 1.0 if kind != "boilerplate" else 4.0
    for _ in range(14):
        strength = (low + high) / 2
        variant = _CHANGE[kind](text, strength, random.Random(seed), donor)
        score = jaccard(base, shingle_set(variant))
        if abs(score - target) <= 0.02 and band[0] <= score <= band[1]:
            return variant, score
        low, high = (strength, high) if score > target else (low, strength)
    return None


def plant(texts: list[str], n_pairs: int, seed: int = 7, positive_share: float = 0.55) -> list[Pair]:
    """Variants of the first ``n_pairs`` usable texts: ``positive_share`` of them positives, the rest hard negatives.

    Kinds take turns; when one cannot reach the target (a short e-mail reordered never falls to
    J = 0.3), the next kind is tried.
    """
    rng = random.Random(seed)
    donor = [w for t in texts[-50:] for w in t.split()]
    pairs: list[Pair] = []
    for index, text in enumerate(texts):
        if len(pairs) == n_pairs:
            break
        band = POSITIVE if rng.random() < positive_share else NEGATIVE
        target, variant_seed = rng.uniform(*band), rng.randrange(2**32)
        for turn in range(len(KINDS)):
            kind = KINDS[(index + turn) % len(KINDS)]
            made = make_variant(text, kind, target, variant_seed, donor, band)
            if made is not None:
                pairs.append(Pair(index, made[0], kind, made[1]))
                break
    return pairs

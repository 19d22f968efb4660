"""Fluent and disfluent text from the bundled corpus, for the perplexity test and benchmark.

Fluent: State of the Union addresses. Disfluent: the same addresses with their words shuffled
(planted: the words are real, their order is not), and the base64-encoded parts of real
SpamAssassin e-mails. Raw e-mails, headers included, are there too: they are real web-ish text of
mixed worth.
"""

from __future__ import annotations

import json
import random
import re

_ENCODED_PART = re.compile(r"base64\s*\n\s*\n(?=[A-Za-z0-9+/=]{60,}\r?\n)", re.IGNORECASE)


def fluency_groups(corpus, n: int, seed: int = 0) -> dict[str, list[str]]:
    """Up to ``n`` texts of each group, in a fixed order: address, shuffled, base64, e-mail."""
    speeches = sorted(corpus["sotu"].paths[0].glob("*.json"))
    addresses = [json.loads(p.read_text())["text"] for p in speeches[::-1][: 8 * n : 8]]
    rng = random.Random(seed)
    shuffled = [" ".join(rng.sample(words, len(words))) for words in (a.split()[:400] for a in addresses)]
    mails = [json.loads(p.read_text())["text"] for p in sorted(corpus["spamassassin"].paths[0].glob("*/*.json"))]
    encoded = [m[found.end() :] for m in mails if (found := _ENCODED_PART.search(m))]
    return {"address": addresses, "shuffled": shuffled, "base64": encoded[:n], "e-mail": mails[:: len(mails) // n][:n]}

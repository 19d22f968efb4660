"""Cheap classifiers distilled from an LLM scorer's labels, in the FineWeb-Edu manner.

Features are hashed word 1- and 2-grams (the fastText recipe, with no vocabulary to store) and
the model is linear: ridge regression for a score (a perplexity's logarithm, as it spans orders of
magnitude), logistic regression for a label. Predicted scores stay within the range of the
training labels. It was
picked by measurement: it scores thousands of documents a second on 2 cores, where the packaged
MiniLM embeddings manage about 117 (and pull in torch), too slow to be 100x faster than the judge.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
from scipy.stats import spearmanr
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from udfs.scorers.base import OK, Score, ScorerId
from udfs.scorers.perplexity import NAME as PERPLEXITY

FEATURES = HashingVectorizer(ngram_range=(1, 2), n_features=2**20, alternate_sign=False, norm="l2")
MAX_CHARS = 4000  # of each text, as the judge saw about as much


@dataclass
class Agreement:
    """How the classifier agrees with held-out LLM labels, and how fast each scores."""

    n_train: int
    n_test: int
    spearman: float | None  # score targets only
    within_one: float | None  # share of held-out texts scored within +-1 of the LLM (ratings)
    accuracy: float | None  # share of held-out labels predicted exactly (label targets)
    docs_per_s: float


class DistilledClassifier:
    """A linear model over hashed n-grams that imitates ``teacher``; its id names the training data."""

    def __init__(
        self, teacher: ScorerId, model, training_key: str, bounds: tuple[float, float] = (0.0, 5.0), log: bool = False
    ) -> None:
        self.teacher, self.model, self.training_key = teacher, model, training_key
        self.bounds, self.log = bounds, log  # the labels' range, and whether the model predicts their log
        self.id = ScorerId(f"{teacher.name}-distilled", f"hashed-ngrams-linear:{training_key}", teacher.prompt_version)

    @property
    def predicts_labels(self) -> bool:
        return isinstance(self.model, LogisticRegression)

    @staticmethod
    def key(teacher: ScorerId, texts: Sequence[str], targets: Sequence[object]) -> str:
        """A digest of the teacher and the labelled texts: same labels, same classifier, no retraining."""
        digest = hashlib.sha256(repr((teacher, list(targets))).encode())
        for text in texts:
            digest.update(hashlib.sha256(text.encode()).digest())
        return digest.hexdigest()[:16]

    @classmethod
    def train(cls, teacher: ScorerId, texts: Sequence[str], targets: Sequence[object]) -> DistilledClassifier:
        """Ridge regression for numbers (on the log of a perplexity), logistic regression for labels."""
        features = FEATURES.transform([t[:MAX_CHARS] for t in texts])
        key = cls.key(teacher, texts, targets)
        if not all(isinstance(t, int | float) for t in targets):
            return cls(teacher, LogisticRegression(max_iter=1000).fit(features, list(targets)), key)
        values = np.asarray(targets, dtype=float)
        log = teacher.name == PERPLEXITY
        model = Ridge(alpha=1.0).fit(features, np.log(values) if log else values)
        return cls(teacher, model, key, (float(values.min()), float(values.max())), log)

    def score(self, texts: Sequence[str]) -> list[Score]:
        if not texts:
            return []
        features = FEATURES.transform([t[:MAX_CHARS] for t in texts])
        if self.predicts_labels:
            probabilities = self.model.predict_proba(features)
            best = probabilities.argmax(axis=1)
            return [
                Score(OK, score=round(float(p[i]), 4), label=str(self.model.classes_[i]))
                for p, i in zip(probabilities, best, strict=True)
            ]
        predicted = self.model.predict(features)
        predicted = np.clip(np.exp(predicted) if self.log else predicted, *self.bounds)
        if self.log:
            return [Score(OK, score=round(float(v), 4)) for v in predicted]
        return [Score(OK, score=round(float(v), 4), label=str(round(v))) for v in predicted]

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.id.name}-{self.training_key}.joblib"
        saved = {"teacher": self.teacher, "model": self.model, "key": self.training_key, "bounds": self.bounds}
        joblib.dump({**saved, "log": self.log}, path)
        return path

    @classmethod
    def load(cls, path: Path) -> DistilledClassifier:
        saved = joblib.load(path)
        # files saved before bounds were kept hold 0-5 ratings
        bounds, log = saved.get("bounds", (0.0, 5.0)), saved.get("log", False)
        return cls(saved["teacher"], saved["model"], saved["key"], bounds, log)


def agreement(
    teacher: ScorerId, texts: Sequence[str], targets: Sequence[object], held_out: float = 0.2, seed: int = 0
) -> Agreement:
    """Train on part of the labels, measure on the rest (held out by a seeded shuffle)."""
    order = np.random.default_rng(seed).permutation(len(texts))
    cut = max(1, int(len(texts) * (1 - held_out)))
    train, test = order[:cut], order[cut:]
    model = DistilledClassifier.train(teacher, [texts[i] for i in train], [targets[i] for i in train])
    started = time.perf_counter()
    predicted = model.score([texts[i] for i in test])
    rate = len(test) / max(time.perf_counter() - started, 1e-9)
    truth = [targets[i] for i in test]
    if model.predicts_labels:
        accuracy = float(np.mean([p.label == t for p, t in zip(predicted, truth, strict=True)])) if len(test) else None
        return Agreement(len(train), len(test), None, None, accuracy, rate)
    values = np.array([p.score for p in predicted])
    truth_values = np.asarray(truth, dtype=float)
    rho = float(spearmanr(values, truth_values).statistic) if len(test) > 2 else None
    within = float(np.mean(np.abs(values - truth_values) <= 1.0)) if len(test) and not model.log else None
    return Agreement(len(train), len(test), rho, within, None, rate)

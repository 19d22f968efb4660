"""Cheap classifiers distilled from an LLM scorer's labels, in the FineWeb-Edu manner.

Features are hashed word 1- and 2-grams (the fastText recipe, with no vocabulary to store) and
the model is linear: ridge regression for a score (a perplexity's logarithm, as it spans orders of
magnitude), logistic regression for a label. Predicted scores stay within the range of the
training labels. It was
picked by measurement: it scores thousands of documents a second on 2 cores, where the packaged
MiniLM embeddings manage about 117 (and pull in torch), too slow to be 100x faster than the judge.

How well it imitates the judge is measured by cross-validation (each label predicted by a model
trained on the other folds): a single held-out split of a few dozen labels is too small to say
whether the classifier ranks texts at all, and L2 reads that figure before it lets a classifier's
scores select (``l2_distill_min_spearman``).
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
from sklearn.model_selection import KFold

from udfs.scorers.base import OK, Score, ScorerId
from udfs.scorers.perplexity import NAME as PERPLEXITY

FEATURES = HashingVectorizer(ngram_range=(1, 2), n_features=2**20, alternate_sign=False, norm="l2")
MAX_CHARS = 4000  # of each text, as the judge saw about as much
FOLDS = 5  # cross-validation folds of the agreement report (fewer when there are fewer labels)


@dataclass
class Agreement:
    """How the classifier's out-of-fold predictions agree with the LLM's labels, and how fast it scores."""

    labels: int
    folds: int
    spearman: float | None  # score targets only
    within_one: float | None  # share of texts scored within +-1 of the LLM (ratings)
    accuracy: float | None  # share of labels predicted exactly (label targets)
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
    teacher: ScorerId, texts: Sequence[str], targets: Sequence[object], folds: int = FOLDS, seed: int = 0
) -> Agreement:
    """Predict each label by a classifier trained on the other folds (seeded shuffle), and compare."""
    folds = min(folds, len(texts))
    predicted: list[Score | None] = [None] * len(texts)
    elapsed = 0.0
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(texts):
        taught = [targets[i] for i in train]
        if len(set(map(str, taught))) < 2:  # one value left to learn: that is every answer
            only = taught[0]
            score = float(only) if isinstance(only, int | float) else None  # a label is no score
            predicted_fold = [Score(OK, score=score, label=str(only))] * len(test)
        else:
            model = DistilledClassifier.train(teacher, [texts[i] for i in train], taught)
            started = time.perf_counter()
            predicted_fold = model.score([texts[i] for i in test])
            elapsed += time.perf_counter() - started
        for i, score in zip(test, predicted_fold, strict=True):
            predicted[i] = score
    rate = len(texts) / max(elapsed, 1e-9)
    if not all(isinstance(t, int | float) for t in targets):
        accuracy = float(np.mean([p.label == str(t) for p, t in zip(predicted, targets, strict=True)]))
        return Agreement(len(texts), folds, None, None, accuracy, rate)
    values = np.array([p.score for p in predicted], dtype=float)
    truth = np.asarray(targets, dtype=float)
    rho = float(spearmanr(values, truth).statistic) if len(texts) > 2 else float("nan")
    within = None if teacher.name == PERPLEXITY else float(np.mean(np.abs(values - truth) <= 1.0))
    return Agreement(len(texts), folds, None if np.isnan(rho) else rho, within, None, rate)

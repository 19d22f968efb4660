"""Distillation on disk: train a classifier on a judge's labels once, keep it under the lake's ``models/``.

A classifier's file is named by a digest of its teacher and training labels, so the same labels
never train twice and a classifier is reproducible from ``ops.scores``. Beside each model, a
JSON report gives its agreement with the LLM's labels, out of fold, and its speed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from udfs.scorers.base import ScorerId
from udfs.scorers.classifier import DistilledClassifier, agreement

MIN_LABELS = 20  # by default, fewer labels than this train nothing: the judge's scores stand alone


def models_dir() -> Path:
    """``$TIERHOUSE_HOME/models`` (the lake's own folder: classifiers travel with the lake)."""
    return Path(os.environ.get("TIERHOUSE_HOME", "lake")).resolve() / "models"


def _largest(teacher: ScorerId) -> tuple[str, int] | None:
    """(key, labels) of the classifier trained on the most labels of ``teacher``, if any."""
    best = None
    for path in models_dir().glob(f"{teacher.name}-distilled-*.json"):
        saved = json.loads(path.read_text())
        labels = saved["labels"] if "labels" in saved else saved["n_train"] + saved["n_test"]
        if ScorerId(**saved["teacher"]) == teacher and (best is None or labels > best[1]):
            best = (path.stem.rsplit("-", 1)[-1], labels)
    return best


def distill(
    teacher: ScorerId,
    texts: Sequence[str],
    targets: Sequence[object],
    min_labels: int = MIN_LABELS,
    retrain_share: float = 0.0,
) -> ScorerId | None:
    """The id of a classifier for these labels; None if there are fewer than ``min_labels`` or they
    are all the same. A classifier of the same teacher trained on at least ``1 / (1 + retrain_share)``
    as many labels is reused: a few new labels do not retrain and rescore everything (every
    distilled score would move), labels that grew by ``retrain_share`` do."""
    if len(texts) < min_labels or len(set(map(str, targets))) < 2:
        return None
    key = DistilledClassifier.key(teacher, texts, targets)
    path = models_dir() / f"{teacher.name}-distilled-{key}.joblib"
    if not path.exists():
        previous = _largest(teacher)
        if previous is not None and len(texts) < previous[1] * (1 + retrain_share):
            return DistilledClassifier(teacher, None, previous[0]).id
        report = agreement(teacher, texts, targets)
        classifier = DistilledClassifier.train(teacher, texts, targets)
        classifier.save(models_dir())
        described = {"teacher": asdict(teacher), **asdict(report)}
        path.with_suffix(".json").write_text(json.dumps(described, indent=2))
    return DistilledClassifier(teacher, None, key).id


@lru_cache(maxsize=8)
def classifier(model: str) -> DistilledClassifier:
    """A trained classifier by its scorer-id model (``hashed-ngrams-linear:<key>``)."""
    key = model.rsplit(":", 1)[-1]
    found = sorted(models_dir().glob(f"*-distilled-{key}.joblib"))
    if not found:
        raise FileNotFoundError(f"no distilled classifier {model!r} in {models_dir()}")
    return DistilledClassifier.load(found[0])


def report_path(model: str, directory: Path | None = None) -> Path | None:
    """Where the agreement report written when ``model`` was trained lies in ``directory`` (default: this
    lake's models folder), or None."""
    key = model.rsplit(":", 1)[-1]
    found = sorted((directory or models_dir()).glob(f"*-distilled-{key}.json"))
    return found[0] if found else None


def report(model: str) -> dict:
    """The agreement report written when the classifier was trained."""
    path = report_path(model)
    if path is None:
        raise FileNotFoundError(f"no training report of distilled classifier {model!r} in {models_dir()}")
    return json.loads(path.read_text())

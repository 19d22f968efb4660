"""What every scorer shares: its identity, the result of one text, and the batch interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

OK = "ok"  # a score (and label) was read from the answer
UNPARSED = "unparsed"  # the backend answered, but not in the required form: raw kept, nothing guessed
FAILED = "failed"  # no answer (timeout, HTTP error, junk response): retried by the next build


@dataclass(frozen=True)
class ScorerId:
    """(name, model, prompt version): a score is reused only while all three are unchanged."""

    name: str
    model: str
    prompt_version: str

    @property
    def key(self) -> str:
        """One string for the three, as ``ops.measures`` keys a judge's results (SQL macro ``scorer_key``)."""
        return "\x1f".join((self.name, self.model, self.prompt_version))


@dataclass(frozen=True)
class Score:
    """One text's result; ``raw`` keeps what the backend said, whatever the status.

    ``backend`` and the usage fields say what the result cost (the cost ledger reads them from the
    ops tables); a distilled classifier's scores leave them empty.
    """

    status: str
    score: float | None = None
    label: str | None = None
    raw: str | None = None
    error: str | None = None
    backend: str | None = None
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def model_label(model: str) -> str:
    """A model as scorer ids record it: a ``.gguf`` path by its file stem, any other name as given."""
    return model.rsplit("/", 1)[-1].removesuffix(".gguf") if model.endswith(".gguf") else model


class Scorer(Protocol):
    id: ScorerId

    def score(self, texts: Sequence[str]) -> list[Score]:
        """Score a whole batch; the result has one entry per text, in order."""
        ...

"""An LLM judge: a versioned prompt sent through a backend, its answers read strictly."""

from __future__ import annotations

from collections.abc import Sequence

from udfs.scorers.backends.base import Backend
from udfs.scorers.base import Score, ScorerId
from udfs.scorers.prompts import Prompt


class LLMJudge:
    """Score texts by asking an LLM; ``id`` is (prompt name, backend model, prompt version)."""

    def __init__(self, backend: Backend, prompt: Prompt) -> None:
        self.backend, self.prompt = backend, prompt
        self.id = ScorerId(prompt.name, backend.model, prompt.version)

    def score(self, texts: Sequence[str]) -> list[Score]:
        replies = self.backend.chat([self.prompt.request(text) for text in texts])
        return [self.prompt.read(reply) for reply in replies]

"""An LLM judge: a versioned prompt sent through a backend, its answers read strictly."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from udfs.scorers.backends.base import Backend, Reply
from udfs.scorers.base import Score, ScorerId
from udfs.scorers.prompts import Prompt


class LLMJudge:
    """Score texts by asking an LLM; ``id`` is (prompt name, backend model, prompt version)."""

    def __init__(self, backend: Backend, prompt: Prompt) -> None:
        self.backend, self.prompt = backend, prompt
        self.id = ScorerId(prompt.name, backend.model, prompt.version)

    def score(self, texts: Sequence[str], questions: Sequence[str] | None = None) -> list[Score]:
        """One result per text; ``questions`` (one per text) fill a verifier prompt's ``{question}``."""
        asked = questions if questions is not None else [""] * len(texts)
        replies = self.backend.chat([self.prompt.request(t, q) for t, q in zip(texts, asked, strict=True)])
        return [with_usage(self.prompt.read(reply), self.backend.name, reply) for reply in replies]


def with_usage(score: Score, backend: str, reply: Reply) -> Score:
    """``score`` with what its reply cost: the backend, requests sent, tokens and seconds."""
    return replace(
        score,
        backend=backend,
        requests=reply.requests,
        tokens_in=reply.tokens_in,
        tokens_out=reply.tokens_out,
        seconds=reply.seconds,
    )

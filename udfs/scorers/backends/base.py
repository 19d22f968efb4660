"""The request and reply every backend speaks, and the ``Backend`` protocol."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion: messages, a token budget, and how many alternatives of the first token to return."""

    messages: tuple[dict[str, str], ...]
    max_tokens: int = 1
    top_logprobs: int = 0
    #: answers whose first-token log-probabilities the backend should report even outside the top
    #: alternatives (where it can: llama.cpp sees the whole vocabulary, an HTTP API only its top N)
    choices: tuple[str, ...] = ()
    #: how the last message starts in every request of its prompt (the instructions before the text): a
    #: backend that reuses a cached prefix evaluates this part on its own (llama.cpp), so that no
    #: answer depends on the requests before it
    stem: str = ""


@dataclass(frozen=True)
class Reply:
    """A backend's answer: the text, the first token's alternatives (token -> log-probability), or an error.

    The usage fields feed the cost ledger: ``requests`` sent for this answer (retries included),
    prompt and completion tokens, and this answer's share of the backend's wall-clock seconds.
    """

    text: str | None = None
    top_logprobs: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    requests: int = 1
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0


def share_wall_time(replies: list[Reply], seconds: float) -> list[Reply]:
    """Spread a batch's wall-clock time evenly over its replies (a concurrent batch has no per-request cost)."""
    each = seconds / len(replies) if replies else 0.0
    return [replace(r, seconds=each) for r in replies]


class Backend(Protocol):
    #: what the cost ledger records as the backend (``llamacpp``, ``openai``, ``vllm``)
    name: str
    #: what the scorer identity records as the model
    model: str

    def chat(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        """Answer every request; a request that fails yields a ``Reply`` with ``error``, never an exception."""
        ...

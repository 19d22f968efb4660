"""The stand-in's ``SamplingParams`` and ``StructuredOutputsParams``, with the fields vLLM 0.12+ documents."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StructuredOutputsParams:
    json: str | dict | None = None
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.json, self.regex, self.choice, self.grammar)) != 1:
            raise ValueError("exactly one kind of structured output must be given")


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    max_tokens: int | None = 16
    logprobs: int | None = None
    seed: int | None = None
    structured_outputs: StructuredOutputsParams | None = None

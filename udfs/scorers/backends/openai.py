"""Any OpenAI-compatible chat server (``vllm serve``, ``llama_cpp.server``, hosted APIs), asynchronously.

A batch goes out as concurrent requests, at most ``concurrency`` in flight. Each request has a
timeout and is retried with jittered exponential backoff (tenacity) on timeouts, dropped
connections, 5xx, 429 (waiting what ``Retry-After`` asks, within ``max_wait_s``) and bodies that
are not the expected JSON. A request that still fails becomes a ``Reply`` with the error, so
one bad request never sinks its batch. The API key is read from the environment variable named
by ``api_key_env`` and is kept out of every error message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from udfs.scorers.backends.base import ChatRequest, Reply, share_wall_time

_RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}


class TransientError(Exception):
    """A failure worth another try; ``retry_after`` is the server's own advice, if it gave one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["retry-after"])
    except (KeyError, ValueError):
        return None


def _parse(body: dict[str, Any]) -> Reply:
    """The reply in a chat-completions body; a body of another shape is a ``TransientError``."""
    try:
        choice = body["choices"][0]
        text = choice["message"]["content"]
        content = (choice.get("logprobs") or {}).get("content") or []
        top = {t["token"]: float(t["logprob"]) for t in content[0].get("top_logprobs", [])} if content else {}
        usage = body.get("usage") or {}
        tokens_in, tokens_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        raise TransientError(f"unexpected response body: {type(exc).__name__}: {exc}") from exc
    if text is not None and not isinstance(text, str):
        raise TransientError("unexpected response body: message content is not a string")
    return Reply(text=text, top_logprobs=top, tokens_in=tokens_in, tokens_out=tokens_out)


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_attempts: int = 5,
        max_wait_s: float = 10.0,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self._key = os.environ.get(api_key_env) or None
        self.concurrency, self.timeout_s = concurrency, timeout_s
        self.max_attempts, self.max_wait_s = max_attempts, max_wait_s
        self._backoff = wait_random_exponential(multiplier=0.1, max=max_wait_s)

    def _redact(self, message: str) -> str:
        return message.replace(self._key, "***") if self._key else message

    def _wait(self, state) -> float:
        """Retry-After when the server sent one (capped), else jittered exponential backoff."""
        error = state.outcome.exception()
        if isinstance(error, TransientError) and error.retry_after is not None:
            return min(error.retry_after, self.max_wait_s)
        return self._backoff(state)

    async def _post(self, client: httpx.AsyncClient, request: ChatRequest) -> Reply:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": 0,
        }
        if request.top_logprobs:
            payload.update(logprobs=True, top_logprobs=request.top_logprobs)
        try:
            response = await client.post("/chat/completions", json=payload)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in _RETRY_STATUS:
            raise TransientError(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code != 200:
            raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
        try:
            body = response.json()
        except ValueError as exc:
            raise TransientError(f"response is not JSON: {response.text[:80]!r}") from exc
        return _parse(body)

    async def _attempt(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, request: ChatRequest) -> Reply:
        async with gate:
            return await self._post(client, request)

    async def _one(self, client: httpx.AsyncClient, gate: asyncio.Semaphore, request: ChatRequest) -> Reply:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            wait=self._wait,
            stop=stop_after_attempt(self.max_attempts),
            reraise=True,
        )
        try:
            reply = await retrying(self._attempt, client, gate, request)
        except (TransientError, httpx.HTTPError) as exc:
            reply = Reply(error=self._redact(f"{type(exc).__name__}: {exc}"[:500]))
        return replace(reply, requests=retrying.statistics.get("attempt_number", 1))

    async def _chat(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=self.timeout_s, limits=limits
        ) as client:
            gate = asyncio.Semaphore(self.concurrency)
            started = time.perf_counter()
            replies = list(await asyncio.gather(*(self._one(client, gate, r) for r in requests)))
            return share_wall_time(replies, time.perf_counter() - started)

    def chat(self, requests: Sequence[ChatRequest]) -> list[Reply]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self._chat(requests))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from inside a running loop (a notebook)
            return pool.submit(asyncio.run, self._chat(requests)).result()

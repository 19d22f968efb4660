"""An OpenAI-compatible HTTP server whose answers are computed from the request: a deterministic LLM
that several processes (Ray's workers) can call alike.

It answers the packaged prompts by what they ask for: a digit for the edu judge (from the text's
length and letters), the text without its page furniture for the cleanup editor, a question, answer
and evidence from the text's first sentence for the QA generator, and for the verifier that answer
again, except on every third text (by hash), where it answers something else: the answers disagree.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler

from local_http import LocalHTTPServer
from stand_ins import edu_estimate, tidy


def _source(user: str) -> str:
    """The text a prompt quotes (after its ``Text:`` or ``Extract:`` line)."""
    return re.split(r"^(?:Text|Extract):\n", user, maxsplit=1, flags=re.M)[-1]


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0].splitlines()[0]


def answer(system: str, user: str) -> str:
    """What the scripted LLM says to one request."""
    if "rate web pages" in system:
        return str(round(edu_estimate(_source(user))))
    if "clean up text" in system:
        return tidy(_source(user).strip())
    first = _first_sentence(_source(user).split("\n\nWrite one question")[0])
    short = " ".join(first.split()[:3])
    if "study questions" in system:
        tag = hashlib.md5(first.encode()).hexdigest()[:6]  # a question of its own per text, as an LLM's would be
        return f"Question: How does text {tag} begin?\nAnswer: {short}\nEvidence: {first}"
    if "answer questions" in system:
        text = _source(user).split("\n\nQuestion:")[0]
        return "I cannot tell." if int(hashlib.md5(text.encode()).hexdigest(), 16) % 3 == 0 else short
    return "unknown prompt"


class ScriptedLLM(LocalHTTPServer):
    """``with ScriptedLLM() as llm:`` serves on a free local port; ``llm.config`` is the dbt var ``llm``."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()
        super().__init__()

    @property
    def config(self) -> dict[str, object]:
        return {"backend": "openai", "model": "scripted", "base_url": self.url, "concurrency": 2, "max_attempts": 2}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                roles = {m["role"]: m["content"] for m in request["messages"]}
                text = answer(roles.get("system", ""), roles.get("user", ""))
                with scripted._lock:
                    scripted.requests += 1
                usage = {"prompt_tokens": len(roles.get("user", "").split()), "completion_tokens": len(text.split())}
                reply = {"choices": [{"message": {"role": "assistant", "content": text}}], "usage": usage}
                body = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

"""A real HTTP proxy in front of an OpenAI-compatible server that injects faults.

Used by the scorer tests: timeouts, 500s, junk JSON, connection resets and 429s at a set rate.
Whether a request gets a fault is drawn from a seeded generator; the kinds take turns, so a
few faults cover them all. Every request is logged with what the proxy did to it.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from local_http import LocalHTTPServer

FAULTS = ("timeout", "http_500", "junk_json", "reset", "http_429")


@dataclass
class ProxyLog:
    """What happened to each request: ``forwarded`` (the upstream answer reached the client),
    ``abandoned`` (the client gave up before it came), or the fault injected."""

    outcomes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: str) -> None:
        with self.lock:
            self.outcomes.append(outcome)

    def count(self, outcome: str) -> int:
        return self.outcomes.count(outcome)


class FaultProxy(LocalHTTPServer):
    """``with FaultProxy(upstream, fault_rate=0.3) as proxy: proxy.url`` -> ``http://127.0.0.1:<port>/v1``."""

    def __init__(
        self,
        upstream: str,
        fault_rate: float = 0.0,
        hang_s: float = 3.0,
        retry_after_s: float = 0.2,
        seed: int = 0,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.fault_rate, self.hang_s, self.retry_after_s = fault_rate, hang_s, retry_after_s
        self.random = random.Random(seed)
        self.random_lock = threading.Lock()
        self.faults_drawn = 0
        self.log = ProxyLog()
        super().__init__()

    def _draw(self) -> str | None:
        """Whether this request gets a fault (seeded, at ``fault_rate``); the kinds take turns."""
        with self.random_lock:
            if self.random.random() >= self.fault_rate:
                return None
            self.faults_drawn += 1
            return FAULTS[(self.faults_drawn - 1) % len(FAULTS)]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fault = proxy._draw()
                if fault:
                    proxy.log.add(fault)
                if fault == "timeout":
                    time.sleep(proxy.hang_s)
                    return self._reply(504, b'{"error": "too late"}')
                if fault == "http_500":
                    return self._reply(500, b'{"error": "injected"}')
                if fault == "junk_json":
                    return self._reply(200, b'{"choices": [{"message": ')
                if fault == "http_429":
                    return self._reply(429, b'{"error": "slow down"}', {"Retry-After": str(proxy.retry_after_s)})
                if fault == "reset":  # RST instead of a response
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return None
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=120)
                headers = {"Content-Type": "application/json", "Authorization": self.headers.get("Authorization", "")}
                upstream.request("POST", self.path, body, headers)
                response = upstream.getresponse()
                payload = response.read()
                upstream.close()
                try:
                    self._reply(response.status, payload)
                except (BrokenPipeError, ConnectionResetError):
                    proxy.log.add("abandoned")
                else:
                    proxy.log.add("forwarded")

        return Handler

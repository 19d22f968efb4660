"""Throw-away PostgreSQL (scripts/postgres.sh) and moto S3 servers on localhost, for one test run.

Both are given planted credentials that tests grep every output and log for.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "postgres.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Servers:
    """Where the catalog database and the object store listen, and the planted secrets they accept."""

    pg_port: int
    pg_password: str
    s3_endpoint: str
    s3_key_id: str
    s3_secret: str
    logs: tuple[Path, ...]

    @property
    def catalog_uri(self) -> str:
        return f"postgresql+psycopg://tierhouse:{self.pg_password}@127.0.0.1:{self.pg_port}/postgres"

    @property
    def planted(self) -> tuple[str, str]:
        return self.pg_password, self.s3_secret


@contextmanager
def postgres(root: Path, password: str) -> Iterator[int]:
    """A fresh cluster (user ``tierhouse``, scram password auth) on a free port; removed afterwards."""
    port = free_port()
    pwfile = root / "pw"
    pwfile.write_text(password)
    subprocess.run([str(SCRIPT), "start", str(root / "pg"), str(port), str(pwfile)], check=True, timeout=300)
    try:
        yield port
    finally:
        subprocess.run([str(SCRIPT), "stop", str(root / "pg")], check=False, timeout=120)


@contextmanager
def moto_s3(log: Path) -> Iterator[str]:
    """moto's standalone server speaking the S3 HTTP API; its endpoint URL."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        process.kill()
        process.wait(timeout=30)


@contextmanager
def servers() -> Iterator[Servers]:
    """PostgreSQL and moto, started once; a world-traversable folder so postgres may run as ``nobody``."""
    root = Path(tempfile.mkdtemp(prefix="tierhouse-servers-"))
    root.chmod(0o755)
    try:
        pg_password = f"pg-{secrets.token_hex(8)}-PLANTED"
        with postgres(root, pg_password) as pg_port, moto_s3(root / "moto.log") as endpoint:
            yield Servers(
                pg_port=pg_port,
                pg_password=pg_password,
                s3_endpoint=endpoint,
                s3_key_id="AKIATIERHOUSETEST",
                s3_secret=f"aws-{secrets.token_hex(8)}-PLANTED",
                logs=(root / "moto.log", root / "pg" / "server.log"),
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)

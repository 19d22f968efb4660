"""Resolve the S3 settings of the configured catalog: its ``s3.*`` properties, else ``AWS_*`` variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlparse

from warehouse.catalog import catalog_properties
from warehouse.config import Settings

#: pyiceberg property -> the environment variables AWS tools read for it, in order.
_FALLBACK = {
    "s3.access-key-id": ("AWS_ACCESS_KEY_ID",),
    "s3.secret-access-key": ("AWS_SECRET_ACCESS_KEY",),
    "s3.session-token": ("AWS_SESSION_TOKEN",),
    "s3.region": ("AWS_REGION", "AWS_DEFAULT_REGION"),
    "s3.endpoint": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
}


@dataclass(frozen=True)
class S3Access:
    """Where the object store is and how to sign requests; ``repr`` never shows the secrets."""

    region: str | None = None
    endpoint: str | None = None  # e.g. http://127.0.0.1:9000 for a local S3-compatible server
    key_id: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    path_style: bool = False

    @property
    def use_ssl(self) -> bool:
        return not (self.endpoint or "").startswith("http://")

    @property
    def host(self) -> str | None:
        """The endpoint as DuckDB wants it: host[:port], no scheme."""
        if not self.endpoint:
            return None
        parsed = urlparse(self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}")
        return parsed.netloc


def s3_access(settings: Settings) -> S3Access | None:
    """The S3 settings when the configured catalog keeps its warehouse on S3, else ``None``."""
    if settings.embedded:
        return None
    props = catalog_properties(settings.catalog_name)
    if not str(props.get("warehouse", "")).startswith(("s3://", "s3a://")):
        return None

    def value(key: str) -> str | None:
        if props.get(key):
            return props[key]
        return next((os.environ[v] for v in _FALLBACK[key] if os.environ.get(v)), None)

    endpoint = value("s3.endpoint")
    path_style = str(props.get("s3.force-virtual-addressing", "false")).lower() != "true" and endpoint is not None
    return S3Access(
        region=value("s3.region"),
        endpoint=endpoint,
        key_id=value("s3.access-key-id"),
        secret=value("s3.secret-access-key"),
        session_token=value("s3.session-token"),
        path_style=path_style,
    )

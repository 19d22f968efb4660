"""Keep credentials out of what tierhouse prints: every configured secret value is masked."""

from __future__ import annotations

import os

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from warehouse.catalog import catalog_properties
from warehouse.config import Settings

MASK = "***"
#: catalog properties and environment variables whose values are credentials
_SECRET_KEYS = ("s3.secret-access-key", "s3.session-token", "credential", "token", "gcs.oauth2.token")
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")


def secret_values(settings: Settings) -> list[str]:
    """Every credential this process could have been given: catalog secrets, its URI's password, AWS_*."""
    found = [os.environ.get(name) for name in _SECRET_ENV]
    if not settings.embedded:
        props = catalog_properties(settings.catalog_name)
        found += [props.get(key) for key in _SECRET_KEYS]
        try:
            found.append(make_url(props["uri"]).password if props.get("uri") else None)
        except ArgumentError:
            found.append(props.get("uri"))  # unparsable: mask the whole URI
    return sorted({s for s in found if s and len(s) >= 4}, key=len, reverse=True)


def redact(text: str, settings: Settings) -> str:
    """``text`` with each secret value replaced by ``***``."""
    for secret in secret_values(settings):
        text = text.replace(secret, MASK)
    return text

"""Headless Chromium for looking at reports the way a reader does (tests, screenshots, benchmarks).

Debian's ``chromium`` (scripts/chromium.sh installs it) driven by Playwright's own driver: no
browser is downloaded. The flags are what Chromium needs here: no sandbox as root, no GPU, and no
background traffic on a closed network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def launch(playwright: Any, profile: Path, **options: Any) -> Any:
    """A persistent Chromium context with a fresh profile folder (Playwright's ``BrowserContext``)."""
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=list(FLAGS), **options
    )

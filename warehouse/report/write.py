"""Gather every section of a build's report and write it as one HTML file."""

from __future__ import annotations

import os
from pathlib import Path

from warehouse.catalog import open_catalog
from warehouse.config import Settings
from warehouse.query import connect
from warehouse.report import checks, page, tiers
from warehouse.report.pins import resolve

#: ``TIERHOUSE_REPORT=0`` stops ``tierhouse build`` and ``quickstart`` from writing a report
ENV_SWITCH = "TIERHOUSE_REPORT"


def report_enabled() -> bool:
    """False when ``$TIERHOUSE_REPORT`` is ``0``/``false``/``no``/``off`` (e.g. the test suite's many builds)."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in {"0", "false", "no", "off"}


def write_report(settings: Settings, out_dir: Path, build_id: int | None = None, against: int | None = None) -> Path:
    """Write ``out_dir/build-N.html`` for ``build_id`` (default: the newest) against ``against``
    (default: the build before it); returns the file's path."""
    catalog = open_catalog(settings)
    pins = resolve(catalog, build_id, against)
    con = connect(settings, catalog)
    sections = [
        checks.overview(con, pins),
        tiers.funnel(con, pins),
        tiers.rejections(con, pins),
        tiers.scores(con, pins, settings.home / "models"),
        tiers.edits(con, pins),
        tiers.verdicts(con, pins),
        checks.gates(con, pins),
        checks.diff(con, pins),
        checks.cost(con, pins),
        checks.evaluation(con, pins),
    ]
    against_text = f"compared with build {pins.previous['build_id']}" if pins.previous else "no earlier build"
    subtitle = (
        f"status {pins.build['status']}, started {page.show(pins.build['started_at'])}; {against_text}. "
        "Every table shows the time-travel SQL that reproduces it: run it with `tierhouse sql`."
    )
    html = page.render(f"tierhouse build {pins.build_id}", subtitle, sections)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"build-{pins.build_id}.html"
    partial = path.with_suffix(".html.partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)  # a reader never sees half a page
    return path

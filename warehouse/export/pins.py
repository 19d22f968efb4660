"""Pin an export to a build: the exact snapshot of every table it reads, from the ``build-N`` tags."""

from __future__ import annotations

import re

from pyiceberg.catalog import Catalog

from warehouse.builds import build_tag, list_builds
from warehouse.tables import BY_NAME, ensure_table

_BUILD = re.compile(r"^(?:build-)?(\d+)$")


class PinError(LookupError):
    """No build to export from, or the named one did not tag a table the export reads."""


def resolve_build(catalog: Catalog, as_of: str | None, tables: list[str]) -> tuple[int, dict[str, int]]:
    """(build id, {table: snapshot id}) for ``as_of`` (``build-N`` or ``N``), else the newest build
    that tagged every table in ``tables``."""
    loaded = {name: ensure_table(catalog, BY_NAME[name]) for name in tables}
    if as_of is not None:
        match = _BUILD.match(as_of.strip())
        if not match:
            raise PinError(f"--as-of {as_of!r}: name a build as build-N or N")
        candidates = [int(match.group(1))]
    else:
        candidates = [b["build_id"] for b in list_builds(catalog)]
    for build_id in candidates:
        tag = build_tag(build_id)
        refs = {name: t.metadata.refs.get(tag) for name, t in loaded.items()}
        if all(refs.values()):
            return build_id, {name: ref.snapshot_id for name, ref in refs.items()}
        if as_of is not None:
            missing = sorted(name for name, ref in refs.items() if ref is None)
            raise PinError(f"build {build_id} did not tag {', '.join(missing)}; `tierhouse builds` lists the builds")
    raise PinError("no build has tagged every table this export reads; run `tierhouse build` first")

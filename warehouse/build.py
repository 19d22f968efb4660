"""``tierhouse build``: run dbt in-process over the lake and report what each tier became."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warehouse.buildlock import BuildLockBusy, current_lease
from warehouse.builds import list_builds
from warehouse.catalog import open_catalog
from warehouse.config import Settings
from warehouse.tables import BUILDS, ensure_table, resolve_name


def default_project_dir() -> Path:
    """``$TIERHOUSE_DBT_PROJECT``, else the ``dbt_project`` beside the package, else ``./dbt_project``."""
    configured = os.environ.get("TIERHOUSE_DBT_PROJECT")
    if configured:
        return Path(configured).resolve()
    beside = Path(__file__).resolve().parents[1] / "dbt_project"
    return beside if beside.is_dir() else Path("dbt_project").resolve()


_PARSED: dict[Path, tuple[tuple[tuple[str, int, int], ...], Any]] = {}


def _project_files(project: Path) -> tuple[tuple[str, int, int], ...]:
    """Path, size and mtime of every file dbt parses: all of the project but its output folders."""
    found = []
    for folder, subfolders, files in os.walk(project):
        if Path(folder) == project:
            subfolders[:] = [d for d in subfolders if d not in ("target", "logs")]
        for name in files:
            stat = os.stat(os.path.join(folder, name))
            found.append((os.path.relpath(os.path.join(folder, name), project), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(found))


def parsed_project(project: Path) -> Any | None:
    """dbt's manifest of ``project``, parsed once per process while its files stay as they are.

    dbt parses a whole project again whenever the vars or the profile change, about 5 s a build here.
    No parse-time config of ours reads a var (a model's config names a var or a macro instead, read
    when the model runs) and the profile reads no environment, so one manifest serves every build with
    any vars on any lake. None when the project does not parse: the build then reports why."""
    from dbt.cli.main import dbtRunner

    files = _project_files(project)
    cached = _PARSED.get(project)
    if cached and cached[0] == files:
        return cached[1]
    result = dbtRunner().invoke(["--quiet", "parse", "--project-dir", str(project), "--profiles-dir", str(project)])
    if not result.success:
        return None
    _PARSED[project] = (files, result.result)
    return result.result


@dataclass
class BuildOutcome:
    """dbt's verdict plus the ``ops.builds`` row the build wrote."""

    success: bool
    record: dict[str, Any] | None


def with_accepted_drift(variables: str | None, tiers: list[str], reason: str | None, by: str) -> str | None:
    """``variables`` (dbt's YAML) plus ``gate_accept_drift`` for ``tiers``: who accepts their drift, and why."""
    if not tiers:
        return variables
    if not (reason or "").strip():
        raise ValueError("--accept-drift needs --reason: ops.builds records who accepted which checks, and why")
    import yaml

    merged = dict(yaml.safe_load(variables or "{}") or {})
    accepted = dict(merged.get("gate_accept_drift") or {})
    accepted.update({resolve_name(t).name.split(".", 1)[1]: {"by": by, "reason": reason} for t in tiers})
    return json.dumps({**merged, "gate_accept_drift": accepted})


def with_engine(variables: str | None, engine: str | None, ray_address: str | None) -> str | None:
    """``variables`` plus the dbt vars ``engine`` and ``ray_address`` when they were given."""
    if ray_address and engine != "ray":
        raise ValueError("--ray-address needs --engine ray")
    extra = {k: v for k, v in (("engine", engine), ("ray_address", ray_address)) if v}
    if not extra:
        return variables
    import yaml

    return json.dumps({**(yaml.safe_load(variables or "{}") or {}), **extra})


def run_build(
    settings: Settings,
    *,
    select: list[str] | None = None,
    variables: str | None = None,
    full_refresh: bool = False,
    project_dir: Path | None = None,
    quiet: bool = False,
    wait: bool = True,
) -> BuildOutcome:
    """``dbt build`` on ``project_dir`` against ``settings``' lake; returns the recorded build.

    Builds run one at a time (``warehouse.buildlock``): this one waits for a running build, or with
    ``wait=False`` fails at once naming it."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    project = (project_dir or default_project_dir()).resolve()
    if not (project / "dbt_project.yml").exists():
        raise FileNotFoundError(f"build: no dbt_project.yml in {project}; pass --project-dir")
    args = ["build", "--project-dir", str(project), "--profiles-dir", str(project)]
    if select:
        args += ["--select", *select]
    if variables:
        args += ["--vars", variables]
    if full_refresh:
        args.append("--full-refresh")
    if quiet:
        args = ["--quiet", *args]
    # the plugin reads the lake's location from the environment, as a plain `dbt build` would
    if not wait:
        held = current_lease(ensure_table(open_catalog(settings), BUILDS))
        if held is not None and held.active(time.time()):
            raise BuildLockBusy(f"build: {held.describe()} is running (lease until {time.ctime(held.expires_at)})")
    saved = {k: os.environ.get(k) for k in ("TIERHOUSE_HOME", "TIERHOUSE_DBT_PROJECT", "TIERHOUSE_BUILD_WAIT")}
    os.environ.update(
        TIERHOUSE_HOME=str(settings.home), TIERHOUSE_DBT_PROJECT=str(project), TIERHOUSE_BUILD_WAIT="1" if wait else "0"
    )
    try:
        result = dbtRunner(manifest=parsed_project(project)).invoke(args)
    finally:
        # dbt-duckdb keeps its environment (our plugin, opened on one lake) for as long as the profile
        # stays the same, and the profile does not name the lake: the next build opens its own
        DuckDBConnectionManager.close_all_connections()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    builds = list_builds(open_catalog(settings))
    return BuildOutcome(bool(result.success), builds[0] if builds else None)

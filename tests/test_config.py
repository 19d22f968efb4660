"""Where the lake lives: ./lake by default, $TIERHOUSE_HOME, or a catalog named in pyiceberg's config."""

from __future__ import annotations

import os
import subprocess
import sys

from warehouse.config import load_settings


def test_default_home_is_lake_in_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("TIERHOUSE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.home == tmp_path / "lake" and settings.embedded
    assert settings.catalog_db == tmp_path / "lake" / "catalog.db"


def test_named_catalog_from_pyiceberg_config(tmp_path):
    """TIERHOUSE_CATALOG picks a catalog configured the pyiceberg way (here a SQL one; REST is the same path).

    pyiceberg reads its environment once, at import, so this runs the CLI in a fresh process.
    """
    warehouse = tmp_path / "shared-warehouse"
    warehouse.mkdir()
    env = dict(
        os.environ,
        TIERHOUSE_CATALOG="team",
        PYICEBERG_CATALOG__TEAM__TYPE="sql",
        PYICEBERG_CATALOG__TEAM__URI=f"sqlite:///{tmp_path / 'team.db'}",
        PYICEBERG_CATALOG__TEAM__WAREHOUSE=warehouse.as_uri(),
        TIERHOUSE_HOME=str(tmp_path / "unused"),
    )
    doc = tmp_path / "d.jsonl"
    doc.write_text('{"text": "stored through a named catalog"}\n')
    cli = [sys.executable, "-m", "warehouse.cli"]
    subprocess.run([*cli, "ingest", str(doc), "--source", "named"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [*cli, "sql", "SELECT content FROM tiers.l0_raw", "--format", "csv"], env=env, capture_output=True, text=True
    )
    assert done.stdout.splitlines() == ["content", "stored through a named catalog"], done.stderr
    assert any(warehouse.rglob("*.parquet")) and (tmp_path / "team.db").exists()
    assert not (tmp_path / "unused" / "catalog.db").exists()


def test_bad_integer_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("TIERHOUSE_COMMIT_ROWS", "lots")
    try:
        load_settings()
    except ValueError as exc:
        assert "TIERHOUSE_COMMIT_ROWS='lots' is not an integer" in str(exc)
    else:
        raise AssertionError("a non-integer setting must be refused")

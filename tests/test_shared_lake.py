"""The lake past one machine: the catalog on PostgreSQL (pyiceberg's SqlCatalog, the JDBC catalog's
schema), the warehouse on S3 (moto's server), every command run as the `tierhouse` CLI in its own process.

One lake for the module: two concurrent ingests, a build, a third ingest, then reads of the build's
tag and of L0 before the third ingest (``FOR VERSION AS OF``, ``diff``) through DuckDB's httpfs.
Planted credentials are grepped for in every output and log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import boto3
import orjson
import pytest
from sqlalchemy.exc import IntegrityError

from warehouse.buildlock import BuildLock, BuildLockBusy
from warehouse.catalog import open_catalog
from warehouse.config import load_settings
from warehouse.tables import L1_CLEAN, ensure_table

BUCKET = "tierhouse-lake"
OUTPUTS: list[str] = []  # every stdout/stderr of the module's commands, grepped for the secrets


def tierhouse(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "warehouse.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )
    OUTPUTS.extend((done.stdout, done.stderr))
    if check:
        assert done.returncode == 0, f"tierhouse {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def documents(corpus, folder: Path, name: str, start: int, n: int) -> Path:
    """``n`` short real documents: the opening of State of the Union addresses from index ``start``."""
    speeches = sorted(corpus["sotu"].paths[0].glob("*.json"))[start : start + n]
    lines = []
    for path in speeches:
        text = json.loads(path.read_text())["text"]
        lines.append(orjson.dumps({"text": text[: text.index(". ", 1000) + 1], "origin": path.name}))
    out = folder / f"{name}.jsonl"
    out.write_bytes(b"\n".join(lines) + b"\n")
    return out


def sql(query: str, env: dict[str, str]) -> list[dict]:
    return json.loads(tierhouse("sql", "--format", "json", query, env=env).stdout)


@pytest.fixture(scope="module")
def lake(scale_servers, corpus, tmp_path_factory):
    """The environment of a lake whose catalog is PostgreSQL and whose warehouse is an S3 bucket."""
    servers = scale_servers
    started = time.time()
    home = tmp_path_factory.mktemp("shared_home")
    env = {
        **os.environ,
        "TIERHOUSE_HOME": str(home),  # nothing may be written here but logs
        "TIERHOUSE_CATALOG": "shared",
        "PYICEBERG_CATALOG__SHARED__TYPE": "sql",
        "PYICEBERG_CATALOG__SHARED__URI": servers.catalog_uri,
        "PYICEBERG_CATALOG__SHARED__WAREHOUSE": f"s3://{BUCKET}/warehouse",
        "PYICEBERG_CATALOG__SHARED__S3__ENDPOINT": servers.s3_endpoint,
        "PYICEBERG_CATALOG__SHARED__S3__REGION": "us-east-1",
        # the credentials come from the usual AWS variables, not from the catalog's configuration
        "AWS_ACCESS_KEY_ID": servers.s3_key_id,
        "AWS_SECRET_ACCESS_KEY": servers.s3_secret,
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=servers.s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=servers.s3_key_id,
        aws_secret_access_key=servers.s3_secret,
    )
    s3.create_bucket(Bucket=BUCKET)
    inputs = tmp_path_factory.mktemp("shared_inputs")
    first = documents(corpus, inputs, "first", 0, 4)
    second = documents(corpus, inputs, "second", 4, 4)
    ingests = [
        subprocess.Popen(
            [sys.executable, "-m", "warehouse.cli", "ingest", str(path), "--source", source, "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path, source in ((first, "sotu_a"), (second, "sotu_b"))
    ]
    for process in ingests:
        stdout, stderr = process.communicate(timeout=300)
        OUTPUTS.extend((stdout, stderr))
        assert process.returncode == 0, stderr[-3000:]
    tierhouse("build", env=env)
    with pytest.MonkeyPatch.context() as patch:  # L0 as build 1 read it: the state time travel goes back to
        for key, value in env.items():
            patch.setenv(key, value)
        before = open_catalog(load_settings()).load_table("tiers.l0_raw").metadata.current_snapshot_id
    tierhouse("ingest", str(documents(corpus, inputs, "third", 8, 3)), "--source", "sotu_c", env=env)
    return {"env": env, "home": home, "s3": s3, "servers": servers, "started": started, "l0_at_build_1": before}


def test_concurrent_ingests_both_land(lake):
    rows = sql("SELECT source, count(*) AS n FROM tiers.l0_raw GROUP BY 1 ORDER BY 1", lake["env"])
    assert rows == [{"source": "sotu_a", "n": 4}, {"source": "sotu_b", "n": 4}, {"source": "sotu_c", "n": 3}]


def test_builds_recorded_in_the_postgres_catalog(lake):
    builds = sql("SELECT build_id, status FROM ops.builds ORDER BY build_id", lake["env"])
    assert [(b["build_id"], b["status"]) for b in builds] == [(1, "success")]
    import psycopg

    servers = lake["servers"]
    with psycopg.connect(host="127.0.0.1", port=servers.pg_port, user="tierhouse",
                         password=servers.pg_password, dbname="postgres") as con:  # fmt: skip
        tables = con.execute("SELECT table_namespace, table_name, metadata_location FROM iceberg_tables").fetchall()
    located = {f"{ns}.{name}": location for ns, name, location in tables}
    assert located["tiers.l1_clean"].startswith(f"s3://{BUCKET}/warehouse/tiers/")


def test_time_travel_and_diff_read_s3(lake):
    env, before = lake["env"], lake["l0_at_build_1"]
    (counts,) = sql(
        "SELECT (SELECT count(*) FROM tiers.l1_clean FOR VERSION AS OF 'build-1') AS l1_build_1, "
        f"(SELECT count(*) FROM tiers.l0_raw FOR VERSION AS OF {before}) AS l0_then, "
        "(SELECT count(*) FROM tiers.l0_raw) AS l0_now",
        env,
    )
    assert counts == {"l1_build_1": 8, "l0_then": 8, "l0_now": 11}  # every L0 document has an L1 row
    changes = json.loads(tierhouse("diff", "tiers.l0_raw", str(before), "main", "--json", env=env).stdout)
    assert (changes["added"], changes["removed"], changes["changed"]) == (3, 0, 0)
    assert {row["source"] for row in changes["by_source"]} == {"sotu_c"}


def _keys(lake) -> set[str]:
    pages = lake["s3"].get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_maintain_deletes_unreferenced_objects_and_keeps_every_tag_readable(lake):
    env = lake["env"]
    tagged = ("SELECT count(*) AS n, md5(string_agg(doc_id || text, '' ORDER BY doc_id)) AS h "
              "FROM tiers.l1_clean FOR VERSION AS OF 'build-1'")  # fmt: skip
    before, keys = sql(tagged, env), _keys(lake)
    report = json.loads(tierhouse("maintain", "--grace-minutes", "0", "--json", env=env).stdout)
    removed = keys - _keys(lake)
    # superseded metadata files at least (every commit wrote a new one), deleted through the S3 filesystem
    assert removed and all(k.startswith("warehouse/") for k in removed)
    # (maintain's own lease commits leave metadata files it removes too: those were never listed before)
    assert sum(t["files_removed"] for t in report["tables"]) >= len(removed)
    assert sql(tagged, env) == before
    changes = json.loads(
        tierhouse("diff", "tiers.l0_raw", str(lake["l0_at_build_1"]), "main", "--json", env=env).stdout
    )
    assert changes["added"] == 3


def test_no_data_file_on_local_disk(lake, tmp_path_factory):
    """Nothing Iceberg writes (data, manifests, metadata, a catalog file) appeared under the lake's home,
    the test run's temporary folders or the repository since the lake was made."""
    places = {Path(lake["home"]), tmp_path_factory.getbasetemp(), Path(__file__).resolve().parents[1], Path.cwd()}
    local = []
    for place in places:
        for folder, subfolders, names in os.walk(place):
            subfolders[:] = [d for d in subfolders if not d.startswith(".venv")]
            local += [Path(folder) / n for n in names
                      if n.endswith((".parquet", ".avro", ".db", ".metadata.json"))
                      and (Path(folder) / n).stat().st_mtime >= lake["started"]]  # fmt: skip
    assert local == []
    keys = [o["Key"] for page in lake["s3"].get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
            for o in page.get("Contents", [])]  # fmt: skip
    assert any(k.startswith("warehouse/tiers/l1_clean/data/") and k.endswith(".parquet") for k in keys)
    assert any(k.startswith("warehouse/tiers/l0_raw/metadata/") and k.endswith(".metadata.json") for k in keys)


def test_build_lock_holds_through_the_shared_catalog(lake, monkeypatch):
    for key, value in lake["env"].items():
        monkeypatch.setenv(key, value)
    catalog = open_catalog(load_settings())
    with BuildLock(catalog, say=lambda _: None, lease_s=30):
        other = open_catalog(load_settings())  # a second client, as another machine would be
        with pytest.raises(BuildLockBusy), BuildLock(other, wait=False, say=lambda _: None):
            pass


def test_a_namespace_created_by_a_concurrent_writer_is_no_error(lake, monkeypatch):
    for key, value in lake["env"].items():
        monkeypatch.setenv(key, value)
    catalog = open_catalog(load_settings())
    real = type(catalog).namespace_exists
    lost = []  # the race: pyiceberg's check runs just before the other writer's insert lands

    def check(self, namespace) -> bool:
        if lost:
            lost.pop()
            return False
        return real(self, namespace)

    monkeypatch.setattr(type(catalog), "namespace_exists", check)
    lost.append(True)
    with pytest.raises(IntegrityError):  # what pyiceberg alone raises when it loses that race
        catalog.create_namespace_if_not_exists("tiers")
    lost.append(True)
    assert ensure_table(catalog, L1_CLEAN).name() == ("tiers", "l1_clean")


def test_two_processes_opening_a_new_catalog_at_once(lake, monkeypatch):
    """The loser of the race to create the catalog's own tables (``iceberg_tables``) opens it all the same."""
    import psycopg
    from pyiceberg.catalog.sql import SqlCatalog, SqlCatalogBaseTable

    servers = lake["servers"]
    with psycopg.connect(host="127.0.0.1", port=servers.pg_port, user="tierhouse", password=servers.pg_password,
                         dbname="postgres", autocommit=True) as con:  # fmt: skip
        con.execute("CREATE DATABASE fresh_catalog")
    for key, value in lake["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYICEBERG_CATALOG__SHARED__URI", servers.catalog_uri.replace("/postgres", "/fresh_catalog"))
    real = SqlCatalog.create_tables
    raced = []

    def lose_the_race(self) -> None:  # the other process's CREATE TABLE lands first
        real(self)
        if not raced:
            raced.append(True)
            SqlCatalogBaseTable.metadata.create_all(self.engine, checkfirst=False)

    monkeypatch.setattr(SqlCatalog, "create_tables", lose_the_race)
    catalog = open_catalog(load_settings())
    assert raced and catalog.list_namespaces() == []


def test_a_secret_in_an_error_is_masked(lake):
    planted = lake["servers"].s3_secret
    failed = tierhouse("sql", f"SELECT error('signed with {planted}')", env=lake["env"], check=False)
    assert failed.returncode == 1
    assert "signed with ***" in failed.stderr


def test_no_credential_in_any_output_or_log(lake):
    dbt = Path(__file__).resolve().parents[1] / "dbt_project"
    logs = [lake["home"], *lake["servers"].logs, Path(os.environ.get("DBT_LOG_PATH") or dbt / "logs"),
            Path(os.environ.get("DBT_TARGET_PATH") or dbt / "target")]  # fmt: skip
    texts = list(OUTPUTS)
    for place in logs:
        files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()] if place.exists() else []
        texts += [f.read_text(errors="replace") for f in files]
    assert len(texts) > 10
    for secret in lake["servers"].planted:
        assert not [t[:200] for t in texts if secret in t]

"""`dbt build` over real Iceberg tables: every tier written, gated, published, tagged and recorded."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
from conftest import query

from warehouse.build import default_project_dir, parsed_project, run_build
from warehouse.builds import list_builds
from warehouse.catalog import open_catalog
from warehouse.ingest import ingest
from warehouse.tables import init_warehouse

TIERS = ("l1_clean", "l2_selected", "l3_refined", "l4_knowledge")


def ingest_subset(settings, corpus, tmp_path: Path) -> None:
    """A small real lake: 40 SOTU addresses, the English and German handbook, 300 fortunes."""
    sotu, handbook = corpus["sotu"], corpus["debian_handbook"]
    ingest(sorted(sotu.paths[0].glob("*.json"))[:40], "sotu", settings=settings)
    for lang in ("en-US", "de-DE"):
        ingest(
            handbook.paths,
            "debian_handbook",
            settings=settings,
            pattern=f"{lang}/*.html",
            uri_prefix=handbook.uri_prefix,
        )
    with gzip.open(corpus["fortunes"].paths[0]) as fh:
        lines = [next(fh) for _ in range(300)]
    subset = tmp_path / "fortunes.jsonl"
    subset.write_bytes(b"".join(lines))
    ingest([subset], "fortunes", settings=settings)


def new_documents(corpus, tmp_path: Path, n: int = 6, start: int | None = None) -> Path:
    """``n`` documents no lake has yet: the opening sentences (about 1,200 characters) of real addresses
    (the last ``n`` addresses, or ``n`` from index ``start``)."""
    docs = []
    speeches = sorted(corpus["sotu"].paths[0].glob("*.json"))
    for path in speeches[-n:] if start is None else speeches[start : start + n]:
        speech = json.loads(path.read_text())["text"]
        docs.append({"text": speech[: speech.index(". ", 1200) + 1], "origin": path.name})
    out = tmp_path / "new.jsonl"
    out.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    return out


def build(settings, **kwargs):
    outcome = run_build(settings, quiet=True, **kwargs)
    return outcome


def mains(settings) -> dict[str, int]:
    catalog = open_catalog(settings)
    return {t: catalog.load_table(f"tiers.{t}").metadata.current_snapshot_id for t in TIERS}


def data_files(settings) -> set[Path]:
    return set((settings.warehouse_dir / "tiers").rglob("*.parquet"))


def tags(settings, tier: str) -> dict[str, int]:
    refs = open_catalog(settings).load_table(f"tiers.{tier}").metadata.refs
    return {name: ref.snapshot_id for name, ref in refs.items() if name.startswith("build-")}


def test_rebuild_without_change_writes_nothing(settings, corpus, tmp_path):
    ingest_subset(settings, corpus, tmp_path)
    first = build(settings)
    assert first.success
    before_files, before_mains = data_files(settings), mains(settings)
    contents = query(settings, "SELECT count(*), sum(hash(doc_id, text)) FROM tiers.l3_refined")
    second = build(settings)
    assert second.success and second.record["build_id"] == first.record["build_id"] + 1
    assert data_files(settings) == before_files and mains(settings) == before_mains
    assert query(settings, "SELECT count(*), sum(hash(doc_id, text)) FROM tiers.l3_refined") == contents
    assert {m["status"] for name, m in second.record["models"].items() if name in TIERS} == {"skipped_unchanged_inputs"}
    # the unchanged snapshot carries both builds' tags
    for tier in TIERS:
        t = tags(settings, tier)
        assert t[f"build-{first.record['build_id']}"] == t[f"build-{second.record['build_id']}"] == before_mains[tier]
    # a forced recompute also finds nothing to write
    third = build(settings, full_refresh=True)
    assert {m["status"] for name, m in third.record["models"].items() if name in TIERS} == {"unchanged"}
    assert data_files(settings) == before_files and mains(settings) == before_mains


def test_new_documents_move_only_themselves(settings, corpus, tmp_path):
    ingest_subset(settings, corpus, tmp_path)
    assert build(settings).success
    catalog = open_catalog(settings)
    old_l1_files = {t.file.file_path for t in catalog.load_table("tiers.l1_clean").scan().plan_files()}
    old_l1 = set(r[0] for r in query(settings, "SELECT doc_id FROM tiers.l1_clean"))
    fresh = ingest([new_documents(corpus, tmp_path)], "sotu_paragraphs", settings=settings)
    assert fresh.ingested == 6
    outcome = build(settings)
    assert outcome.success
    l1 = outcome.record["models"]["l1_clean"]
    assert (l1["rows_added"], l1["rows_removed"]) == (6, 0)
    new_ids = set(r[0] for r in query(settings, "SELECT doc_id FROM tiers.l1_clean")) - old_l1
    assert len(new_ids) == 6
    assert query(settings, "SELECT count(*) FROM tiers.l2_selected WHERE source = 'sotu_paragraphs'") == [(6,)]
    assert outcome.record["models"]["l2_selected"]["rows_added"] == 6
    assert outcome.record["models"]["l2_selected"]["rows_removed"] == 0
    # the files that held the old rows are still the ones serving them
    new_l1_files = {t.file.file_path for t in open_catalog(settings).load_table("tiers.l1_clean").scan().plan_files()}
    assert old_l1_files < new_l1_files and len(new_l1_files - old_l1_files) == 1


def test_failed_gate_keeps_main_and_skips_downstream(settings, corpus, tmp_path):
    ingest_subset(settings, corpus, tmp_path)
    assert build(settings).success
    before = mains(settings)
    l2_before = query(settings, "SELECT count(*) FROM tiers.l2_selected")[0][0]
    ingest([new_documents(corpus, tmp_path)], "sotu_paragraphs", settings=settings)
    outcome = build(settings, variables="{gate_min_rows: {l2_selected: 1000000000}}")
    assert not outcome.success and outcome.record["status"] == "failed"
    models = outcome.record["models"]
    assert models["l1_clean"]["status"] == "published"
    assert models["l2_selected"]["status"] == "gate_failed"
    assert models["l3_refined"]["dbt_status"] == "skipped" and models["l4_knowledge"]["dbt_status"] == "skipped"
    failed = [c for c in models["l2_selected"]["gate"] if not c["success"]]
    assert [(c["column"], c["threshold"]) for c in failed] == [("row_count", "min_value=1000000000")]
    assert failed[0]["observed"] == str(l2_before + 6)
    now = mains(settings)
    assert now["l1_clean"] != before["l1_clean"]
    assert {t: now[t] for t in TIERS[1:]} == {t: before[t] for t in TIERS[1:]}
    assert query(settings, "SELECT count(*) FROM tiers.l2_selected") == [(l2_before,)]
    # the audit snapshot the gate saw stays readable
    audit = open_catalog(settings).load_table("tiers.l2_selected").metadata.refs["audit"].snapshot_id
    assert audit == models["l2_selected"]["audit_snapshot_id"]
    rows = open_catalog(settings).load_table("tiers.l2_selected").scan(snapshot_id=audit).to_arrow()
    assert rows.num_rows == l2_before + 6
    # with the threshold back, the next build publishes
    assert build(settings).success
    assert query(settings, "SELECT count(*) FROM tiers.l2_selected") == [(l2_before + 6,)]


def test_exact_duplicates_share_a_cluster_and_only_the_first_is_kept(settings, tmp_path):
    text = (
        "Debian is a free operating system developed by thousands of volunteers around the world. "
        "The project is a community that produces packages, documentation and tools for everyone. "
        "Its stable release is a conservative distribution that favours tested software over new features. "
        "Security updates reach the stable release through a dedicated team and a public archive. "
        "Many other distributions, among them Ubuntu and its relatives, start from the packages of Debian. "
        "A new stable version appears roughly every two years, after a long freeze of the testing branch."
    )
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "a.html").write_text(f"<html><head><title>A</title></head><body><p>{text}</p></body></html>")
    (pages / "b.html").write_text(f"<html><body><nav>menu</nav><div><p>{text}</p></div></body></html>")
    first = ingest([pages / "a.html"], "site", settings=settings)
    later = tmp_path / "copy.jsonl"
    later.write_bytes(orjson.dumps({"text": text}) + b"\n")
    ingest([pages / "b.html", later], "mirror", settings=settings)
    assert first.ingested == 1 and query(settings, "SELECT count(*) FROM tiers.l0_raw") == [(3,)]
    assert build(settings).success
    rows = query(
        settings, "SELECT source, kept, reject_reasons, dup_cluster FROM tiers.l1_clean ORDER BY kept DESC, uri"
    )
    original = query(settings, "SELECT doc_id FROM tiers.l0_raw WHERE source = 'site'")[0][0]
    assert rows[0] == ("site", True, [], None)  # the first copy's row is not touched by later ones
    assert [r[1:] for r in rows[1:]] == [(False, ["exact_duplicate"], original)] * 2
    # a definitional fact is cut from the source: extracted, not verified, and no confidence is claimed
    assert query(settings, "SELECT question, answer, verdict, confidence FROM tiers.l4_knowledge") == [
        ("What is Debian?", "a free operating system developed by thousands of volunteers around the world",
         "extracted", None)
    ]  # fmt: skip


def test_build_records_match_tags(settings, corpus, tmp_path):
    ingest_subset(settings, corpus, tmp_path)
    build(settings)
    ingest([new_documents(corpus, tmp_path, 3)], "extra", settings=settings)
    build(settings)
    records = list_builds(open_catalog(settings))
    assert [r["build_id"] for r in records] == [2, 1]
    # each tier remembers the input snapshots it was built from, for the next build's previous(...)
    l4 = open_catalog(settings).load_table("tiers.l4_knowledge")
    seen = json.loads(l4.properties["tierhouse.inputs-seen"])["inputs"]
    qa = open_catalog(settings).load_table("ops.qa").metadata.refs["build-2"].snapshot_id
    assert seen == {
        "tiers.l2_selected": tags(settings, "l2_selected")["build-2"],
        "tiers.l3_refined": tags(settings, "l3_refined")["build-2"],
        "ops.qa": qa,
    }
    for record in records:
        assert record["git_rev"] and record["vars"]["l1_min_chars"] == 200
        for tier in TIERS:
            assert tags(settings, tier)[f"build-{record['build_id']}"] == record["models"][tier]["snapshot_id"]


def test_kill_9_during_build_leaves_whole_tiers_and_rerun_converges(settings, corpus, tmp_path):
    ingest_subset(settings, corpus, tmp_path)
    init_warehouse(open_catalog(settings))
    before = mains(settings)
    # a short lease: the killed build holds the build lock until it expires (tests/test_build_lock.py)
    env = dict(os.environ, TIERHOUSE_HOME=str(settings.home), TIERHOUSE_BUILD_LEASE_S="10")
    proc = subprocess.Popen(
        [sys.executable, "-m", "warehouse.cli", "build"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 180
    while "build-1" not in tags(settings, "l1_clean"):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    catalog = open_catalog(settings)
    for tier in TIERS:
        table = catalog.load_table(f"tiers.{tier}")
        current = table.metadata.current_snapshot_id
        # main is either where it was, or a snapshot that passed its gate and was tagged
        assert current == before[tier] or tags(settings, tier).get("build-1") == current
    assert list_builds(catalog) == []  # the killed build never wrote its record
    outcome = build(settings)
    assert outcome.success and outcome.record["build_id"] == 2  # build-1 stays the killed build's tag
    l0 = query(settings, "SELECT count(*) FROM tiers.l0_raw")[0][0]
    assert query(settings, "SELECT count(*) FROM tiers.l1_clean") == [(l0,)]
    assert (
        query(settings, "SELECT count(*) FROM tiers.l3_refined")[0][0]
        == query(settings, "SELECT count(*) FROM tiers.l2_selected")[0][0]
        > 0
    )


def test_plain_dbt_build_and_docs_in_the_project_folder(settings, corpus, tmp_path):
    ingest_subset(settings, corpus, tmp_path)
    project = default_project_dir()
    env = dict(os.environ, TIERHOUSE_HOME=str(settings.home))
    dbt = [str(Path(sys.executable).with_name("dbt"))]
    done = subprocess.run(
        [*dbt, "build", "--target-path", str(tmp_path / "target")], cwd=project, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "Completed successfully" in done.stdout
    assert [r["build_id"] for r in list_builds(open_catalog(settings))] == [1]
    docs = subprocess.run(
        [*dbt, "docs", "generate", "--target-path", str(tmp_path / "target")],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert docs.returncode == 0, docs.stdout[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    parents = manifest["parent_map"]
    assert parents["model.tierhouse.l1_clean"] == ["source.tierhouse.tiers.l0_raw"]
    assert sorted(parents["model.tierhouse.l2_selected"]) == ["model.tierhouse.l1_clean", "model.tierhouse.scores"]
    assert sorted(parents["model.tierhouse.l3_refined"]) == ["model.tierhouse.edits", "model.tierhouse.l2_selected"]
    assert sorted(parents["model.tierhouse.l4_knowledge"]) == [
        "model.tierhouse.l2_selected",
        "model.tierhouse.l3_refined",
        "model.tierhouse.qa",
    ]
    assert (tmp_path / "target" / "catalog.json").exists()


def test_a_parsed_project_serves_every_build_until_one_of_its_files_changes(tmp_path, monkeypatch):
    """Builds in one process share one manifest (vars never re-parse it); an edited model is parsed again."""
    monkeypatch.setenv("TIERHOUSE_HOME", str(tmp_path / "lake"))
    project = tmp_path / "dbt_project"
    shutil.copytree(default_project_dir(), project, ignore=shutil.ignore_patterns("target", "logs"))
    first = parsed_project(project)
    assert first is not None and parsed_project(project) is first
    model = project / "models" / "tiers" / "l2_selected.sql"
    model.write_text(model.read_text() + "\n-- reviewed\n")
    second = parsed_project(project)
    assert second is not first and second.nodes["model.tierhouse.l2_selected"].raw_code.endswith("-- reviewed")

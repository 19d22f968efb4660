"""``tierhouse maintain``: tagged builds stay readable row for row, untagged history goes, bytes go down,
exports of kept builds stay byte-identical, and the next build is still incremental."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pyarrow as pa
from click.testing import CliRunner
from conftest import query

from warehouse.build import run_build
from warehouse.catalog import open_catalog
from warehouse.cli import main
from warehouse.export.dataset import Mixture, export_stage
from warehouse.ingest import ingest
from warehouse.maintenance.compaction import compact, content_snapshot, holder
from warehouse.maintenance.files import table_bytes
from warehouse.tables import ALL_TABLES, ensure_table


def _ingest_openings(settings, corpus, tmp_path, start: int, n: int) -> None:
    paths = sorted(corpus["sotu"].paths[0].glob("*.json"))[start : start + n]
    texts = [json.loads(p.read_text())["text"] for p in paths]
    rows = b"".join(orjson.dumps({"text": t[: t.index(". ", 1200) + 1]}) + b"\n" for t in texts)
    (tmp_path / f"docs{start}.jsonl").write_bytes(rows)
    ingest([tmp_path / f"docs{start}.jsonl"], "sotu", settings=settings)


def _tagged_rows(settings) -> dict[tuple[str, str], tuple]:
    """Per table and tag: row count and an order-free digest of every row."""
    out = {}
    catalog = open_catalog(settings)
    for tdef in ALL_TABLES:
        for ref_name, ref in ensure_table(catalog, tdef).metadata.refs.items():
            if ref.snapshot_ref_type == "tag":
                out[(tdef.name, ref_name)] = query(
                    settings, f"SELECT count(*), sum(hash(t)) FROM {tdef.name} FOR VERSION AS OF '{ref_name}' t"
                )[0]
    return out


def _current_rows(settings) -> dict[str, tuple]:
    """Per table: the current rows' count and digest (a compaction must not change them)."""
    return {t.name: query(settings, f"SELECT count(*), sum(hash(x)) FROM {t.name} x")[0] for t in ALL_TABLES}


def _files(settings) -> set:
    """Every file of the lake but ops.builds' (taking and releasing the build lock writes there)."""
    builds = settings.warehouse_dir / "ops" / "builds"
    return {p for p in settings.warehouse_dir.rglob("*") if p.is_file() and builds not in p.parents}


def test_maintain_keeps_what_is_needed_and_removes_the_rest(settings, corpus, tmp_path):
    catalog = open_catalog(settings)
    for build_id, start in enumerate((0, 20, 30, 40), start=1):
        _ingest_openings(settings, corpus, tmp_path, start, 20 if build_id == 1 else 6)
        assert run_build(settings, quiet=True).success
        if build_id == 1:
            first = export_stage(catalog, "pretrain", Mixture({"l2": 1.0}, None), tmp_path / "e1", tokens=3_000)
        if build_id == 2:
            runner = CliRunner()
            tagged = runner.invoke(main, ["--home", str(settings.home), "tag", "l2_selected", "checkpoint",
                                          "--at", "build-2"])  # fmt: skip
            assert tagged.exit_code == 0, tagged.output
    home = ["--home", str(settings.home)]
    diff_args = [*home, "diff", "l2_selected", "build-1", "build-4", "--json"]
    before_diff = json.loads(CliRunner().invoke(main, diff_args).output)
    before_rows, before_current = _tagged_rows(settings), _current_rows(settings)
    before_files = _files(settings)
    before_bytes = sum(table_bytes(ensure_table(catalog, t)) for t in ALL_TABLES)
    l0 = catalog.load_table("tiers.l0_raw")
    l0_snapshots, l0_input = len(l0.snapshots()), l0.metadata.current_snapshot_id  # L1 read this one
    l0_files = {t.file.file_path.removeprefix("file://") for t in l0.scan().plan_files()}
    dry = CliRunner().invoke(main, [*home, "maintain", "--keep-builds", "1", "--grace-minutes", "0", "--dry-run",
                                    "--json"])  # fmt: skip
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.output)["tables"]
    assert sum(t["bytes_removed"] for t in planned) > 0 and _files(settings) == before_files  # nothing touched

    done = CliRunner().invoke(main, [*home, "maintain", "--keep-builds", "1", "--grace-minutes", "0",
                                     "--compact-share", "1", "--compact-min-files", "2", "--json"])  # fmt: skip
    assert done.exit_code == 0, done.output
    report = {t["table"]: t for t in json.loads(done.output)["tables"]}
    after_bytes = sum(table_bytes(ensure_table(catalog, t)) for t in ALL_TABLES)
    removed = sum(t["bytes_removed"] for t in report.values())
    assert after_bytes < before_bytes and removed >= sum(t["bytes_removed"] for t in planned)  # maintain's own
    # commits add a metadata file per table, and make the one before it removable too

    # kept: build-1 (an export used it), build-4 (the last), the hand tag; builds 2 and 3 lost their tags
    l2 = catalog.load_table("tiers.l2_selected").metadata.refs
    assert {"build-1", "build-4", "checkpoint"} <= set(l2) and not {"build-2", "build-3"} & set(l2)
    assert report["tiers.l2_selected"]["tags_dropped"] == ["build-2", "build-3"]
    # every tag that is left reads exactly the rows it read before
    after_rows = _tagged_rows(settings)
    assert after_rows and all(before_rows[key] == rows for key, rows in after_rows.items())
    # L0, which no build tags, packed its four ingests into one file; L1 packed the files of builds 2-4
    # into one and left build 1's, which the older kept build-1 tag reads; L0's untagged history is gone
    compacted = {t: report[t]["compaction"] for t in ("tiers.l0_raw", "tiers.l1_clean")}
    assert [(c["files_before"], c["files_after"]) for c in compacted.values()] == [(4, 1), (4, 2)]
    current = _current_rows(settings)
    assert all(current[name] == rows for name, rows in before_current.items() if name != "ops.builds")
    assert len(catalog.load_table("tiers.l0_raw").snapshots()) < l0_snapshots
    # the packed copy stands in for the snapshot L1 last read, so that one expired with its small files
    l0 = catalog.load_table("tiers.l0_raw")
    assert l0.snapshot_by_id(l0_input) is None and holder(l0, l0_input) == l0.metadata.current_snapshot_id
    assert len(l0_files) == 4 and not any(Path(f).exists() for f in l0_files)
    # the kept build exports byte for byte as before, time travel and diff still work
    again = export_stage(
        catalog, "pretrain", Mixture({"l2": 1.0}, None), tmp_path / "e1-again", as_of="build-1", tokens=3_000
    )
    assert {p.name: p.read_bytes() for p in first.folder.iterdir()} == {
        p.name: p.read_bytes() for p in again.folder.iterdir()
    }
    diff = CliRunner().invoke(main, diff_args)
    assert diff.exit_code == 0 and json.loads(diff.output) == before_diff and before_diff["added"] > 0
    # and the next build finds its inputs where it left them (a compaction is no change): nothing to redo
    outcome = run_build(settings, quiet=True)
    assert outcome.success and outcome.record["models"]["l1_clean"]["status"] == "skipped_unchanged_inputs"
    # and new documents after it move only themselves, L4 reading L3's compaction as its previous state
    _ingest_openings(settings, corpus, tmp_path, 50, 4)
    outcome = run_build(settings, quiet=True)
    moved = {m: (outcome.record["models"][m]["rows_added"], outcome.record["models"][m]["rows_removed"])
             for m in ("l1_clean", "l4_knowledge")}  # fmt: skip
    assert outcome.success and moved["l1_clean"] == (4, 0) and moved["l4_knowledge"][1] == 0


def test_compaction_packs_only_the_small_files_of_each_partition(catalog, corpus):
    """A first build's large file is never read again: only the small files that later builds left
    beside it are rewritten, per partition, and a partition's lone small file is left as it is."""
    speeches = _speeches(corpus)
    table, append = _scratch(catalog)
    append("a", speeches[:40])  # the large file
    for i in range(3):
        append("a", [speeches[40 + i][:300]])
    append("b", [speeches[50][:300]])
    append("b", [speeches[51][:300]])
    append("c", [speeches[52][:3000]])  # a lone small file, larger than the other small ones
    files = {t.file.file_path: t.file.file_size_in_bytes for t in table.scan().plan_files()}
    large = max(files, key=files.get)
    small_bytes = sorted(files.values())[-2] + 1  # every file but the large one is small
    before = sorted(table.scan().to_arrow().to_pylist(), key=lambda r: (r["source"], r["text"]))
    snapshot = table.metadata.current_snapshot_id

    assert compact(table, "scratch.docs", small_bytes, min_files=6, max_share=1) is None  # five: too few
    held = [path for path, size in files.items() if size == min(files.values())]  # read by another snapshot
    assert compact(table, "scratch.docs", small_bytes, min_files=5, max_share=1, held=held) is None  # four left
    assert compact(table, "scratch.docs", small_bytes, min_files=2, max_share=0.01) is None  # over budget
    packed = sorted(files.values())[:5]  # a's three and b's two
    share = (sum(packed) + 1) / sum(files.values())  # just enough for them, not for c's
    done = compact(table, "scratch.docs", small_bytes, min_files=5, max_share=share)
    after = {t.file.file_path: t.file for t in table.scan().plan_files()}
    assert done is not None and (done.files_before, done.files_after) == (7, 4)
    lone_c = next(path for path, f in after.items() if f.partition[0] == "c")
    assert large in after and lone_c in files  # neither the large file nor c's lone one was rewritten
    assert done.bytes_rewritten == sum(files.values()) - files[large] - files[lone_c]
    assert sorted(table.scan().to_arrow().to_pylist(), key=lambda r: (r["source"], r["text"])) == before
    assert content_snapshot(table, table.metadata.current_snapshot_id) == snapshot
    # the compaction stands in for the snapshot it packed, before and after that one expires
    assert holder(table, snapshot) == done.snapshot_to != snapshot
    table.maintenance.expire_snapshots().by_ids([snapshot]).commit()
    assert holder(table, snapshot) == done.snapshot_to
    assert holder(table, snapshot, made_by_ms=table.snapshot_by_id(done.snapshot_to).timestamp_ms - 1) is None
    first = table.snapshots()[0].snapshot_id  # never compacted: it reads itself, until it expires
    assert holder(table, first) == first
    table.maintenance.expire_snapshots().by_ids([first]).commit()
    assert holder(table, first) is None


def test_a_compaction_of_a_compaction_names_the_rows_it_holds(catalog, corpus):
    """A run packs at most a share of a table, so two runs may compact one after the other with no
    write between; the second must still name the snapshot whose rows it holds once the first, which
    stood in for that snapshot, has expired (fingerprints and the next build's inputs go by it)."""
    speeches = _speeches(corpus)
    table, append = _scratch(catalog)
    for i in range(6):
        append("a", [speeches[i][: 300 * (i + 1)]])
    snapshot = table.metadata.current_snapshot_id
    sizes = sorted(t.file.file_size_in_bytes for t in table.scan().plan_files())
    first = compact(table, "scratch.docs", 1 << 30, min_files=2, max_share=(sum(sizes[:3]) + 1) / sum(sizes))
    second = compact(table, "scratch.docs", 1 << 30, min_files=2, max_share=1)
    assert first is not None and second is not None and first.snapshot_from == snapshot
    assert second.snapshot_from == first.snapshot_to and second.files_after == 1
    table.maintenance.expire_snapshots().by_ids([snapshot, first.snapshot_to]).commit()
    assert content_snapshot(table, second.snapshot_to) == snapshot
    assert holder(table, snapshot) == second.snapshot_to


def _speeches(corpus) -> list[str]:
    return [json.loads(p.read_text())["text"] for p in sorted(corpus["sotu"].paths[0].glob("*.json"))[:60]]


def _scratch(catalog):
    """A table of (source, text) partitioned by source, and a function appending one file of texts to it."""
    schema = pa.schema([("source", pa.string()), ("text", pa.string())])
    catalog.create_namespace_if_not_exists("scratch")
    table = catalog.create_table("scratch.docs", schema)
    with table.update_spec() as spec:
        spec.add_identity("source")

    def append(source: str, texts: list[str]) -> None:
        table.append(pa.table({"source": [source] * len(texts), "text": texts}, schema=schema))

    return table, append

"""``tierhouse export`` on a real lake: pinned to a build, byte-identical again later, true to its
manifest and its weights, and the feedback loop from a training run's losses to the next mixture."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import query

from warehouse.build import run_build
from warehouse.catalog import open_catalog
from warehouse.cli import main
from warehouse.config import load_settings
from warehouse.evaluate import holdout
from warehouse.evaluate.holdout import held_out_sql, is_held_out
from warehouse.export.dataset import Mixture, export_stage
from warehouse.export.slices import parse_mix
from warehouse.ingest import ingest
from warehouse.tables import init_warehouse


def openings(corpus, start: int, n: int) -> list[bytes]:
    """The opening sentences (about 1,000 characters) of ``n`` real addresses: many small documents."""
    paths = sorted(corpus["sotu"].paths[0].glob("*.json"))[start : start + n]
    texts = [json.loads(p.read_text())["text"] for p in paths]
    return [orjson.dumps({"text": t[: t.index(". ", 1000) + 1]}) + b"\n" for t in texts]


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def build(settings, **variables) -> None:
    outcome = run_build(settings, quiet=True, variables=json.dumps({"l2_min_edu_score": 0, **variables}))
    assert outcome.success, outcome.record


@pytest.fixture(scope="module")
def lake(corpus, tmp_path_factory):
    """Build 1 of a small real lake, exported once; then three builds that change what the tiers hold."""
    root = tmp_path_factory.mktemp("export")
    settings = load_settings(root / "lake")
    catalog = open_catalog(settings)
    init_warehouse(catalog)
    for name, start in (("sotu_a", 40), ("sotu_b", 110)):
        (root / f"{name}.jsonl").write_bytes(b"".join(openings(corpus, start, 60)))
        ingest([root / f"{name}.jsonl"], name, settings=settings)
    handbook = corpus["debian_handbook"]
    ingest(handbook.paths, "debian_handbook", settings=settings, pattern="en-US/*.html", uri_prefix=handbook.uri_prefix)
    build(settings)
    first = export_stage(catalog, "pretrain", Mixture({"l1": 0.5, "l2": 0.5}, "default:pretrain"), root / "first",
                         as_of="build-1", tokens=40_000, seed=7)  # fmt: skip
    # build 2: new documents; build 3: a stricter L2 threshold (about half of L2 is under 0.78); build 4: more
    (root / "more.jsonl").write_bytes(b"".join(openings(corpus, 180, 20)))
    ingest([root / "more.jsonl"], "sotu_a", settings=settings)
    build(settings)
    build(settings, l2_min_quality=0.78)
    ingest(sorted(corpus["sotu"].paths[0].glob("*.json"))[:10], "sotu", settings=settings)
    build(settings, l2_min_quality=0.78)
    return settings, first, root


def test_an_old_build_exports_byte_identical_after_three_builds_changed_its_tiers(lake):
    settings, first, root = lake
    catalog = open_catalog(settings)
    l2_counts = [query(settings, f"SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'build-{b}'")[0][0]
                 for b in (1, 2, 3, 4)]  # fmt: skip
    assert len(set(l2_counts)) >= 3, l2_counts  # the later builds really changed L2
    again = export_stage(catalog, "pretrain", Mixture({"l1": 0.5, "l2": 0.5}, "default:pretrain"), root / "again",
                         as_of="build-1", tokens=40_000, seed=7)  # fmt: skip
    assert files(again.folder) == files(first.folder)
    latest = export_stage(catalog, "pretrain", Mixture({"l1": 0.5, "l2": 0.5}, "default:pretrain"), root / "latest",
                          tokens=40_000, seed=7)  # fmt: skip
    assert latest.manifest["build"]["id"] == 4 and files(latest.folder) != files(first.folder)
    # ops.exports: one row per export, with when and by whom (which the manifest leaves out)
    rows = query(settings, "SELECT export_id, build_id, created_by, manifest_sha256, created_at FROM ops.exports "
                           "ORDER BY created_at")  # fmt: skip
    assert [r[1] for r in rows] == [1, 1, 4] and all("@" in r[2] for r in rows)
    assert rows[0][3] == rows[1][3] == hashlib.sha256((first.folder / "manifest.json").read_bytes()).hexdigest()
    assert "created" not in (first.folder / "manifest.json").read_text()


def test_the_manifest_matches_its_shards_and_pins_every_table_it_read(lake):
    settings, _, root = lake
    catalog = open_catalog(settings)
    # build 3's stricter L2 left kept L1 documents out of L2: both slices hold documents
    result = export_stage(catalog, "pretrain", Mixture({"l1": 0.5, "l2": 0.5}, "default:pretrain"), root / "pinned",
                          as_of="build-3", tokens=30_000, shard_docs=40)  # fmt: skip
    manifest = json.loads((result.folder / "manifest.json").read_text())
    assert manifest == result.manifest and len(manifest["shards"]) > 1
    for name, snapshot in manifest["build"]["snapshots"].items():
        assert catalog.load_table(name).metadata.refs["build-3"].snapshot_id == snapshot
    records = []
    for shard in manifest["shards"]:
        path = result.folder / shard["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == shard["sha256"]
        table = pq.read_table(path)
        assert table.num_rows == shard["records"] and sum(table.column("tokens").to_pylist()) == shard["tokens"]
        records += table.to_pylist()
    assert len({(r["doc_id"], r["epoch"]) for r in records}) == len(records)  # each document once per epoch
    # the held-out split never leaves: build 3 holds held-out kept L1 documents, and none is exported
    held = query(settings, f"SELECT count(*) FROM tiers.l1_clean FOR VERSION AS OF 'build-3' WHERE kept AND "
                           f"{held_out_sql('doc_id')}")[0][0]  # fmt: skip
    assert held > 0 and not [r for r in records if is_held_out(r["doc_id"])]
    assert manifest["holdout"] == holdout.describe()
    assert sum(r["tokens"] for r in records) == manifest["tokens"]["exported"]
    for tier, entry in manifest["by_tier"].items():
        mine = [r for r in records if r["tier"] == tier]
        assert entry["documents"] == len(mine) and entry["tokens"] == sum(r["tokens"] for r in mine)
        for source, counts in entry["by_source"].items():
            assert counts["documents"] == sum(1 for r in mine if r["source"] == source)
    # each document comes from the highest tier of the mixture that holds it: no L1 record is in L2
    l2 = {r[0] for r in query(settings, "SELECT doc_id FROM tiers.l2_selected FOR VERSION AS OF 'build-3'")}
    assert {r["tier"] for r in records} == {"l1", "l2"}
    assert not [r for r in records if r["tier"] == "l1" and r["doc_id"] in l2]
    assert all(r["doc_id"] in l2 for r in records if r["tier"] == "l2")
    # the token counts are the tokenizer's: SmolLM2's vocabulary through llama.cpp
    from warehouse.export.tokenizer import default_tokenizer

    assert all(len(default_tokenizer().encode(r["text"])) == r["tokens"] for r in records[:20])
    assert manifest["tokenizer"]["vocab_size"] == 49152


def test_token_shares_follow_the_weights_within_two_points(lake):
    settings, _, root = lake
    weights = parse_mix("l2/sotu_a:0.7,l2/sotu_b:0.3")
    catalog = open_catalog(settings)
    # 16k tokens: l2/sotu_a's share fits in its 12,211 tokens outside the held-out split
    result = export_stage(catalog, "pretrain", Mixture(weights, None), root / "shares", as_of="build-2", tokens=16_000)
    slices = result.manifest["slices"]
    assert result.manifest["tokens"]["exported"] >= 16_000
    for key, weight in weights.items():
        assert abs(slices[key]["share"] - weight) <= 0.02, (key, slices[key])
    # a slice short of tokens: renormalise hands its shortfall to the other; repeat takes it twice
    short = parse_mix("l2/sotu_b:0.9,l2/sotu_a:0.1")
    have = slices["l2/sotu_b"]["available"]["tokens"]
    renorm = export_stage(catalog, "pretrain", Mixture(short, None), root / "renorm", as_of="build-2",
                          tokens=have + 8_000)  # fmt: skip
    assert renorm.manifest["slices"]["l2/sotu_b"]["tokens"] == have
    assert renorm.manifest["tokens"]["exported"] >= have + 8_000
    repeat = export_stage(catalog, "pretrain", Mixture(short, None, "repeat", 2), root / "repeat", as_of="build-2",
                          tokens=have + 8_000)  # fmt: skip
    b = repeat.manifest["slices"]["l2/sotu_b"]
    assert b["epochs"] == 2 and b["tokens"] > have and abs(b["share"] - 0.9) <= 0.02


def test_feedback_proposes_the_next_mixture_and_exports_use_it_by_name(lake, tmp_path):
    settings, _, root = lake
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    made = runner.invoke(main, [*home, "mixtures", "create", "web", "--stage", "pretrain",
                                "--mix", "l2/sotu_a:0.5,l2/sotu_b:0.5"])  # fmt: skip
    assert made.exit_code == 0, made.output
    feedback = tmp_path / "losses.csv"
    feedback.write_text("slice,loss\nl2/sotu_a,3.1\nl2/sotu_b,2.4\n")
    imported = runner.invoke(main, [*home, "feedback", "import", str(feedback), "--mixture", "web",
                                    "--max-step", "0.1"])  # fmt: skip
    assert imported.exit_code == 0, imported.output
    listed = runner.invoke(main, [*home, "mixtures", "list", "--json"])
    stored = {f"{m['name']}@{m['version']}": m for m in json.loads(listed.output)}
    nxt = stored["web@2"]
    assert nxt["parent"] == "web@1" and nxt["feedback"]["file"] == "losses.csv"
    assert nxt["feedback"]["sha256"] == hashlib.sha256(feedback.read_bytes()).hexdigest()
    assert nxt["rule"]["rule"] == "doremi-excess-loss"
    assert nxt["weights"]["l2/sotu_a"] == pytest.approx(0.6) and nxt["weights"]["l2/sotu_b"] == pytest.approx(0.4)
    out = tmp_path / "exports"
    exported = runner.invoke(main, [*home, "export", "--stage", "pretrain", "--mixture", "web", "--tokens", "10000",
                                    "--out", str(out), "--format", "jsonl"])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    manifest = json.loads((out / "pretrain" / "manifest.json").read_text())
    assert manifest["mixture"]["name"] == "web@2" and manifest["format"] == "jsonl"
    lines = (out / "pretrain" / "part-00000.jsonl").read_text().splitlines()
    assert len(lines) == manifest["shards"][0]["records"] and json.loads(lines[0])["tier"] == "l2"
    again = runner.invoke(main, [*home, "export", "--stage", "pretrain", "--mixture", "web", "--out", str(out)])
    assert again.exit_code == 1 and "--overwrite" in again.output
    bad = runner.invoke(main, [*home, "feedback", "import", str(feedback), "--mixture", "nope"])
    assert bad.exit_code == 1 and "no mixture 'nope'" in bad.output


def test_alignment_exports_l4_question_answer_records(lake):
    settings, _, root = lake
    result = export_stage(open_catalog(settings), "alignment", Mixture({"l4": 1.0}, "default:alignment"), root / "a")
    records = pq.read_table(result.folder / "part-00000.parquet").to_pylist()
    # every L4 item but those of held-out documents (which tierhouse evaluate scores on)
    total, trained = query(settings, f"SELECT count(*), count(*) FILTER (NOT {held_out_sql('doc_id')}) "
                                     "FROM tiers.l4_knowledge")[0]  # fmt: skip
    assert 0 < trained < total and len(records) == trained == result.manifest["slices"]["l4"]["documents"]
    assert set(records[0]) == {"qa_id", "doc_id", "source", "tier", "question", "answer", "evidence", "tokens", "epoch"}

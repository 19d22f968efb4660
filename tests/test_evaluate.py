"""``tierhouse evaluate`` on a real lake with a tiny model: deterministic, learning more than token
frequencies, resumable run by run, refusing eval text that could have been trained on, and its
feedback file turning into the next mixture."""

from __future__ import annotations

import json

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import query
from test_export import build, openings

from warehouse.catalog import open_catalog
from warehouse.cli import main
from warehouse.config import load_settings
from warehouse.evaluate.holdout import is_held_out
from warehouse.export.dataset import Mixture, export_stage
from warehouse.export.feedback import read_feedback
from warehouse.ingest import ingest
from warehouse.report.write import write_report
from warehouse.tables import init_warehouse

#: a model small enough to train 32k tokens in seconds
TINY = ["--dim", "32", "--layers", "1", "--context", "32", "--batch", "8", "--threads", "1", "--slice-tokens", "2048"]


@pytest.fixture(scope="module")
def lake(corpus, tmp_path_factory):
    """One build of a small real lake whose strict L2 leaves kept L1 documents out: L1 and L3 slices both hold some."""
    root = tmp_path_factory.mktemp("evaluate")
    settings = load_settings(root / "lake")
    init_warehouse(open_catalog(settings))
    (root / "sotu.jsonl").write_bytes(b"".join(openings(corpus, 40, 120)))
    ingest([root / "sotu.jsonl"], "sotu_a", settings=settings)
    build(settings, l2_min_quality=0.792)
    eval_file = root / "eval.jsonl"
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    held = runner.invoke(main, [*home, "holdout", "--chars", "20000", "--out", str(eval_file)])
    assert held.exit_code == 0, held.output
    made = runner.invoke(main, [*home, "mixtures", "create", "tiers", "--stage", "pretrain", "--mix", "l1:1,l2:1,l3:1"])
    assert made.exit_code == 0, made.output
    return settings, eval_file


def _runs(settings, eval_id: str) -> dict[str, tuple[dict, list, list]]:
    rows = query(settings, "SELECT arm, metrics, curve, manifests FROM ops.evaluations WHERE eval_id = ? "
                           "AND seed = 0", [eval_id])  # fmt: skip
    return {arm: (json.loads(m), json.loads(c), json.loads(e)) for arm, m, c, e in rows}


def test_evaluate_is_deterministic_learns_resumes_and_its_feedback_makes_the_next_mixture(lake, tmp_path):
    settings, eval_file = lake
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    docs = [json.loads(line) for line in eval_file.read_text().splitlines()]
    assert docs and all(is_held_out(d["doc_id"]) for d in docs)
    args = [*home, "evaluate", "--tokens", "32768", "--seeds", "1", "--eval", str(eval_file), "--mixture", "tiers",
            "--out", str(tmp_path / "runs"), *TINY]  # fmt: skip
    feedback = tmp_path / "losses.csv"
    first = runner.invoke(main, [*args, "--arms", "mixed,staged", "--eval-id", "a", "--feedback-out", str(feedback)])
    assert first.exit_code == 0, first.output
    # the same settings in two pieces: mixed alone, then mixed and staged, which trains staged only
    assert runner.invoke(main, [*args, "--arms", "mixed", "--eval-id", "b"]).exit_code == 0
    second = runner.invoke(main, [*args, "--arms", "mixed,staged", "--eval-id", "b"])
    assert second.exit_code == 0, second.output
    counts = query(settings, "SELECT eval_id, arm, count(*) FROM ops.evaluations WHERE seed = 0 GROUP BY ALL")
    assert sorted(counts) == [("a", "mixed", 1), ("a", "staged", 1), ("b", "mixed", 1), ("b", "staged", 1)]

    a, b = _runs(settings, "a"), _runs(settings, "b")
    for arm in ("mixed", "staged"):
        (m1, c1, e1), (m2, c2, e2) = a[arm], b[arm]
        m1.pop("train_seconds"), m2.pop("train_seconds")
        assert m1 == m2 and c1 == c2  # deterministic: the same floats
        assert e1[0]["sha256"] == e2[0]["sha256"]  # the same export both times
        assert m1["eval_loss"] < m1["unigram_eval_loss"], m1  # it learned more than token frequencies
        assert c1[-1]["eval_loss"] < c1[0]["eval_loss"]
        assert "l3" in m1["slices"] and "l2" not in m1["slices"]  # every L2 document is in L3, which exports it
    # mixed and staged read one export and differ only in order
    assert a["mixed"][2] == a["staged"][2] and a["mixed"][0]["eval_loss"] != a["staged"][0]["eval_loss"]
    summaries = query(settings, "SELECT eval_id, arm, metrics FROM ops.evaluations WHERE seed IS NULL")
    assert sorted((e, arm) for e, arm, _ in summaries) == [(e, arm) for e in "ab" for arm in ("mixed", "staged")]
    assert all(json.loads(m)["eval_loss"]["n"] == 1 for *_, m in summaries)

    # a re-run trains nothing; other settings under a recorded eval_id are refused, naming what differs
    again = runner.invoke(main, [*args, "--arms", "mixed,staged", "--eval-id", "a", "--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.output[again.output.index("{") :])["arms"]["mixed"]
    assert summary["eval_loss"]["mean"] == a["mixed"][0]["eval_loss"]
    assert query(settings, "SELECT count(*) FROM ops.evaluations WHERE eval_id = 'a'")[0][0] == 4
    other = runner.invoke(main, [*args, "--arms", "mixed", "--eval-id", "a", "--tokens", "16384"])
    assert other.exit_code == 1 and "evaluation a was recorded with other settings (tokens differ)" in other.output

    # the feedback file round-trips into the next mixture
    signals, _ = read_feedback(feedback)
    losses = a["mixed"][0]["slices"]
    assert set(signals) == set(losses) and all(signals[s].loss == pytest.approx(losses[s], abs=1e-6) for s in losses)
    imported = runner.invoke(main, [*home, "feedback", "import", str(feedback), "--mixture", "tiers"])
    assert imported.exit_code == 0, imported.output
    stored = {
        f"{m['name']}@{m['version']}": m
        for m in json.loads(runner.invoke(main, [*home, "mixtures", "list", "--json"]).output)
    }
    assert stored["tiers@2"]["parent"] == "tiers@1" and stored["tiers@2"]["weights"] != stored["tiers@1"]["weights"]

    # the build report shows each arm's curve and result, from the same rows
    html = write_report(settings, tmp_path / "report").read_text()
    section = html[html.index('<section id="evaluation"') :]
    section = section[: section.index("</section>")]
    assert 'data-state="present"' in section and "<svg" in section
    for arm in ("mixed", "staged"):
        assert f"{arm} (a)" in section and f"{arm} (b)" in section  # the chart's legend
    assert f"{round(a['mixed'][1][-1]['eval_loss'], 4)}" in section  # the last curve point, in the table under it


def test_evaluate_refuses_eval_text_that_could_have_been_trained_on(lake, tmp_path):
    settings, _ = lake
    runner = CliRunner()
    base = ["--home", str(settings.home), "evaluate", "--arms", "l2", "--tokens", "4096", "--seeds", "1",
            "--out", str(tmp_path / "runs"), *TINY]  # fmt: skip
    export = export_stage(open_catalog(settings), "pretrain", Mixture({"l2": 1.0}, "x"), tmp_path / "probe",
                          tokens=4096, seed=0)  # fmt: skip
    trained = pq.read_table(next(export.folder.glob("*.parquet"))).column("text")[0].as_py()
    leaked = tmp_path / "leaked.jsonl"
    leaked.write_bytes(orjson.dumps({"text": "An unseen sentence."}) + b"\n" + orjson.dumps({"text": trained}) + b"\n")
    unknown = runner.invoke(main, [*base, "--arms", "l5", "--eval", str(leaked)])
    assert unknown.exit_code == 1 and "unknown arm 'l5'" in unknown.output
    refused = runner.invoke(main, [*base, "--eval", str(leaked)])
    assert refused.exit_code == 1 and f"{leaked} line 2" in refused.output and "training export" in refused.output
    assert trained[:200] not in refused.output
    outside = next(d for d in (f"{i:032x}" for i in range(100)) if not is_held_out(d))
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_bytes(orjson.dumps({"doc_id": outside, "text": "An unseen sentence."}) + b"\n")
    refused = runner.invoke(main, [*base, "--eval", str(wrong)])
    assert refused.exit_code == 1 and "line 1" in refused.output and "not in the held-out split" in refused.output
    assert not query(settings, "SELECT count(*) FROM ops.evaluations WHERE arm = 'l2'")[0][0]  # nothing recorded

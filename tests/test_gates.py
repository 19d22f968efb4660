"""Gates that can fail: each distribution check fires on the fault it exists to catch, and its control publishes.

One baseline lake, a sample of the bundled corpus, is built once for the module: handbook pages (HTML,
many languages), fortunes (short texts, six languages) and addresses laid out as web pages (source
``site``, which the editor, the QA generator and its verifier work on). Each test puts the lake back
to that baseline, ingests the same held-back slice of documents and builds again, with one fault
planted in an operator or in the slice itself. The gate must fail naming the source, the metric, the
observed and previous values and the threshold, and leave ``main`` where it was. The control, the
same slice without a fault, publishes with those same checks judged and passed. Gate thresholds are
the defaults throughout.
"""

from __future__ import annotations

import getpass
import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import stand_ins
from click.testing import CliRunner
from conftest import query
from lake_state import State, freeze, restore
from planted import _BOILERPLATE
from test_refine import furnished

from udfs.scorers.base import FAILED, UNPARSED, Score
from warehouse.build import run_build
from warehouse.builds import list_builds
from warehouse.catalog import open_catalog
from warehouse.cli import main
from warehouse.config import Settings, load_settings
from warehouse.ingest import ingest

TIERS = ("l1_clean", "scores", "l2_selected", "edits", "l3_refined", "qa", "l4_knowledge")
# the stand-in judge labels every candidate, the stand-in editor edits every page that needs it, and the
# stand-in generator and verifier make a QA pair of every English L3 text; L2 and
# what follows hold English only, which keeps the module quick (the long handbook pages are not edited)
VARS = json.dumps(
    {"l2_languages": ["en"], "l2_judges": {"edu": "v1"}, "l2_perplexity": None, "l2_llm_sample": 100_000,
     "l2_max_llm_calls": 100_000, "l2_distill_min_labels": 100_000, "l3_max_llm_edits": 100_000,
     "l4_max_llm_calls": 100_000}
)  # fmt: skip


GOOD = {
    "edu": stand_ins.judged(stand_ins.edu_estimate),
    "cleanup": stand_ins.written(stand_ins.tidy),
    "qa": stand_ins.written(stand_ins.qa_pair),
    "answer": stand_ins.written(stand_ins.reader),
}


def plant(monkeypatch: pytest.MonkeyPatch, **faulty: stand_ins.Answer) -> None:
    """The good stand-ins, except the faulty ones named."""
    stand_ins.install(monkeypatch, **{**GOOD, **faulty})


@dataclass(frozen=True)
class Slice:
    """Files to ingest, per source."""

    handbook: list[Path]
    fortunes: Path
    site: Path

    def ingest(self, settings: Settings) -> None:
        ingest(self.handbook, "debian_handbook", settings=settings)
        ingest([self.fortunes], "fortunes", settings=settings)
        ingest([self.site], "site", settings=settings)


@dataclass
class Lake:
    settings: Settings
    state: State
    held_back: Slice
    boilerplate: Path  # the slice's site pages replaced by navigation boilerplate
    fortunes: list[str]  # the held-back fortunes' texts

    def reset(self) -> None:
        restore(open_catalog(self.settings), self.state)

    def mains(self) -> dict[str, int]:
        catalog = open_catalog(self.settings)
        names = {t: ("ops." if t in ("scores", "edits", "qa") else "tiers.") + t for t in TIERS}
        return {t: catalog.load_table(n).metadata.current_snapshot_id for t, n in names.items()}


def _jsonl(path: Path, texts: list[str]) -> Path:
    path.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in texts))
    return path


def _pages(corpus, chapters: int) -> list[Path]:
    """Handbook pages of every 8th chapter (from ``chapters``), in every 4th language: near-duplicate
    translations then fall within one side, never across baseline and slice."""
    root = corpus["debian_handbook"].paths[0]
    languages = sorted(p.name for p in root.iterdir() if p.is_dir())[::4]
    names = sorted({p.name for p in root.glob("*/*.html")})[chapters::8]
    return [root / lang / name for lang in languages for name in names if (root / lang / name).exists()]


def _openings(corpus, start: int, n: int) -> list[str]:
    """The first 1,500-odd characters of ``n`` addresses, laid out as web pages (menu lines between sentences)."""
    paths = sorted(corpus["sotu"].paths[0].glob("*.json"))[start : start + n]
    texts = [json.loads(p.read_text())["text"] for p in paths]
    return [furnished(t[: t.index(". ", 1500) + 1]) for t in texts]


def _navigation(n: int) -> list[str]:
    """``n`` distinct pages of nothing but site navigation and boilerplate."""
    return [
        "\n".join([f"Home > Archive > Page {i}", *(_BOILERPLATE[(i + k) % len(_BOILERPLATE)] for k in range(6))])
        for i in range(n)
    ]


def _fortunes(corpus, offset: int) -> list[str]:
    with gzip.open(corpus["fortunes"].paths[0]) as fh:
        return [orjson.loads(line)["text"] for i, line in enumerate(fh) if i % 400 == offset]


def build(settings: Settings):
    return run_build(settings, quiet=True, variables=VARS)


@pytest.fixture(scope="module")
def baseline(corpus, tmp_path_factory) -> Lake:
    """The baseline lake, built once with the stand-in judge and editor (installed for the whole module)."""
    work = tmp_path_factory.mktemp("gates")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIERHOUSE_HOME", str(work / "lake"))
        settings = load_settings()
        plant(patch)
        Slice(_pages(corpus, 0), _jsonl(work / "f0.jsonl", _fortunes(corpus, 0)),
              _jsonl(work / "s0.jsonl", _openings(corpus, 100, 50))).ingest(settings)  # fmt: skip
        first = build(settings)
        assert first.success, first.record
        held_fortunes = _fortunes(corpus, 200)
        yield Lake(
            settings,
            freeze(open_catalog(settings)),
            Slice(_pages(corpus, 4), _jsonl(work / "f1.jsonl", held_fortunes),
                  _jsonl(work / "s1.jsonl", _openings(corpus, 150, 50))),
            _jsonl(work / "s1-navigation.jsonl", _navigation(50)),
            held_fortunes,
        )  # fmt: skip


@pytest.fixture
def lake(baseline: Lake) -> Lake:
    baseline.reset()
    yield baseline
    baseline.reset()


def drift(outcome, tier: str, verdict: str) -> dict[tuple[str, str], dict]:
    checks = outcome.record["models"][tier]["drift"]["checks"]
    return {(c["source"], c["metric"]): c for c in checks if c["verdict"] == verdict}


def assert_gate_fails(lake: Lake, outcome, before: dict[str, int], tier: str, source: str, metric: str) -> dict:
    """``tier``'s gate failed on ``metric`` of ``source``, said so in full, and main did not move."""
    assert not outcome.success
    model = outcome.record["models"][tier]
    assert model["status"] == "gate_failed"
    check = drift(outcome, tier, "failed")[(source, metric)]
    message = model["error"]
    expected = (
        f"source {source}: {metric} observed {check['observed']:.3f} over {check['new_rows']:,} new rows, "
        f"previous {check['previous']:.3f} over {check['main_rows']:,} rows in main, allowed {check['allowed']}"
    )
    assert expected in message, message
    assert re.search(r"gate_drift\.\w+", check["allowed"])
    assert lake.mains()[tier] == before[tier]
    return check


@pytest.fixture(scope="module")
def control(baseline: Lake):
    """The held-back slice without any fault, built once on the baseline."""
    baseline.reset()
    baseline.held_back.ingest(baseline.settings)
    outcome = build(baseline.settings)
    baseline.reset()
    return outcome


def test_baseline_first_build_says_it_had_nothing_to_compare(baseline):
    record = query(baseline.settings, "SELECT models FROM ops.builds ORDER BY build_id LIMIT 1")[0][0]
    l1 = json.loads(record)["l1_clean"]
    assert l1["drift"] == {"compared_with": "first build: nothing to compare (main is empty)", "checks": [],
                           "accepted": None}  # fmt: skip


def test_control_slice_publishes_with_every_planted_check_judged(control):
    assert control.success, control.record
    passed = {tier: drift(control, tier, "passed") for tier in ("l1_clean", "scores", "l3_refined", "qa")}
    for tier, source, metric in [
        ("l1_clean", "debian_handbook", "extraction_failed_share"),
        ("l1_clean", "fortunes", "und_share"),
        ("l1_clean", "fortunes", "language_distance"),
        ("l1_clean", "site", "kept_share"),
        ("scores", "site", "score_spread:edu"),
        ("scores", "site", "score_quantile_shift:edu"),
        ("l3_refined", "site", "accepted_share"),
        ("qa", "site", "verified_share"),
    ]:
        check = passed[tier][(source, metric)]
        assert min(check["new_rows"], check["main_rows"]) >= 30, check


def test_extractor_returning_empty_text_for_30_percent_of_html(lake, monkeypatch):
    before = lake.mains()
    stand_ins.broken_extractor(monkeypatch, share=0.3)
    lake.held_back.ingest(lake.settings)
    outcome = build(lake.settings)
    check = assert_gate_fails(lake, outcome, before, "l1_clean", "debian_handbook", "extraction_failed_share")
    assert 0.2 < check["observed"] < 0.4 and check["previous"] == 0.0
    assert outcome.record["models"]["l2_selected"]["dbt_status"] == "skipped"


def test_language_id_returning_und_for_a_whole_source(lake, monkeypatch):
    before = lake.mains()
    stand_ins.undetermined_language_for(monkeypatch, lake.fortunes)
    lake.held_back.ingest(lake.settings)
    outcome = build(lake.settings)
    check = assert_gate_fails(lake, outcome, before, "l1_clean", "fortunes", "und_share")
    assert check["observed"] == 1.0 and check["previous"] < 0.05
    assert ("fortunes", "language_distance") in drift(outcome, "l1_clean", "failed")
    # the other sources' new documents were judged and passed
    assert ("debian_handbook", "und_share") in drift(outcome, "l1_clean", "passed")


def test_scorer_returning_one_constant_score(lake, monkeypatch):
    before = lake.mains()
    plant(monkeypatch, edu=stand_ins.constant(3.0))
    lake.held_back.ingest(lake.settings)
    outcome = build(lake.settings)
    check = assert_gate_fails(lake, outcome, before, "scores", "site", "score_spread:edu")
    assert check["observed"] == 0.0 < check["previous"]  # every new score the same: no spread left
    assert outcome.record["models"]["l1_clean"]["status"] == "published"


@pytest.mark.parametrize(
    ("metric", "answer"),
    [
        ("failed_share", Score(FAILED, error="planted: the server answered 500")),
        ("unparsed_share", Score(UNPARSED, raw="I would rather not rate this text.")),
    ],
)
def test_scorer_whose_every_call_fails_or_answers_unparsably(lake, monkeypatch, metric, answer):
    before = lake.mains()
    plant(monkeypatch, edu=lambda text, question: answer)
    lake.held_back.ingest(lake.settings)
    outcome = build(lake.settings)
    check = assert_gate_fails(lake, outcome, before, "scores", "site", f"{metric}:edu")
    assert check["observed"] == 1.0 and check["previous"] < 0.05


def test_source_whose_new_pages_are_all_navigation_boilerplate(lake):
    before = lake.mains()
    held = lake.held_back
    Slice(held.handbook, held.fortunes, lake.boilerplate).ingest(lake.settings)
    outcome = build(lake.settings)
    check = assert_gate_fails(lake, outcome, before, "l1_clean", "site", "kept_share")
    assert check["observed"] < 0.2 and check["previous"] > 0.8


def test_editor_whose_every_edit_is_rejected(lake, monkeypatch):
    before = lake.mains()
    plant(monkeypatch, cleanup=stand_ins.written(stand_ins.first_sentence))
    lake.held_back.ingest(lake.settings)
    outcome = build(lake.settings)
    check = assert_gate_fails(lake, outcome, before, "l3_refined", "site", "accepted_share")
    assert check["observed"] == 0.0 and check["previous"] > 0.8
    rejected = query(lake.settings, "SELECT count(*) FROM tiers.l3_refined AT (VERSION => 'audit') "
                                    "WHERE llm_edit LIKE 'rejected:%' AND source = 'site'")  # fmt: skip
    assert rejected[0][0] >= 30


def test_verifier_that_disagrees_with_every_answer(lake, monkeypatch):
    before = lake.mains()
    plant(monkeypatch, answer=stand_ins.written(lambda text, question: "Nobody can tell from this page."))
    lake.held_back.ingest(lake.settings)
    outcome = build(lake.settings)
    check = assert_gate_fails(lake, outcome, before, "qa", "site", "verified_share")
    assert check["observed"] == 0.0 and check["previous"] > 0.9
    assert outcome.record["models"]["l3_refined"]["status"] == "published"


def test_accept_drift_publishes_and_records_who_and_why(lake, monkeypatch):
    before = lake.mains()
    stand_ins.broken_extractor(monkeypatch, share=0.3)
    lake.held_back.ingest(lake.settings)
    cli = ["--home", str(lake.settings.home), "build", "-s", "l1_clean", "--vars", VARS, "--accept-drift", "l1_clean"]
    refused = CliRunner().invoke(main, cli)
    assert refused.exit_code == 2 and "--reason" in refused.output  # no acceptance without a reason
    done = CliRunner().invoke(main, [*cli, "--reason", "new extractor"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert "accepted" in done.output
    record = list_builds(open_catalog(lake.settings))[0]
    l1 = record["models"]["l1_clean"]
    assert l1["status"] == "published" and lake.mains()["l1_clean"] != before["l1_clean"]
    accepted = l1["drift"]["accepted"]
    assert accepted["by"] == getpass.getuser() and accepted["reason"] == "new extractor"
    assert "extraction_failed_share@debian_handbook" in accepted["checks"]
    assert record["vars"]["gate_accept_drift"] == {"l1_clean": {"by": getpass.getuser(), "reason": "new extractor"}}

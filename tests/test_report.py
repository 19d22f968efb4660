"""``tierhouse report``: one self-contained page per build, rendered in Debian's Chromium.

A small real lake (addresses laid out as web pages, fortunes) is built twice with stand-in LLM steps
that bill one request per call, so every section has data. The page is opened headless: every
section must hold data, every request the browser makes must be ``file:`` or ``data:``, and numbers
shown must equal what the SQL printed beside them returns.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import re
import subprocess
from pathlib import Path

import orjson
import pytest
import stand_ins
from click.testing import CliRunner
from test_refine import furnished

from udfs.scorers.base import Score
from warehouse.build import run_build
from warehouse.catalog import open_catalog
from warehouse.cli import _build_report, main
from warehouse.config import load_settings
from warehouse.ingest import ingest
from warehouse.query import connect
from warehouse.report import report_enabled
from warehouse.report.headless import CHROMIUM, launch
from warehouse.tables import init_warehouse

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("overview", "funnel", "rejections", "scores", "edits", "verdicts", "gates", "diff", "cost")
# a judge labels 20 texts and a classifier distilled from them scores the rest; everything else as the gate tests
VARS = {
    "l2_languages": ["en"],
    "l2_judges": {"edu": "v1"},
    "l2_perplexity": None,
    "l2_llm_sample": 20,
    "l2_max_llm_calls": 100,
    "l2_distill_min_labels": 10,
    "l3_max_llm_edits": 100,
    "l4_max_llm_calls": 100,
    "llm_prices": {"stand-in": {"input_per_million": 2.0, "output_per_million": 8.0}},
}


def billed(answer: stand_ins.Answer) -> stand_ins.Answer:
    """``answer``, recorded as one request to a backend named ``stand-in`` with its words as tokens."""

    def call(text: str, question: str) -> Score:
        result = answer(text, question)
        return dataclasses.replace(
            result,
            backend="stand-in",
            requests=1,
            tokens_in=len(text.split()),
            tokens_out=len((result.raw or "").split()),
        )

    return call


def _jsonl(path: Path, texts: list[str]) -> Path:
    path.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in texts))
    return path


def _site(corpus, start: int, n: int) -> list[str]:
    paths = sorted(corpus["sotu"].paths[0].glob("*.json"))[start : start + n]
    texts = [json.loads(p.read_text())["text"] for p in paths]
    return [furnished(t[: t.index(". ", 1500) + 1]) for t in texts]


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed by the project's own script when missing (about a minute, once)."""
    subprocess.run(["bash", str(ROOT / "scripts" / "chromium.sh")], check=True, timeout=900)
    return CHROMIUM


@pytest.fixture(scope="module")
def lake(corpus, tmp_path_factory):
    """Two builds of a small lake; the second one through the CLI, which writes its report."""
    work = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIERHOUSE_HOME", str(work / "lake"))
        settings = load_settings()
        stand_ins.install(
            patch,
            edu=billed(stand_ins.judged(stand_ins.edu_estimate)),
            cleanup=billed(stand_ins.written(stand_ins.tidy)),
            qa=billed(stand_ins.written(stand_ins.qa_pair)),
            answer=billed(stand_ins.written(stand_ins.reader)),
        )
        init_warehouse(open_catalog(settings))
        with gzip.open(corpus["fortunes"].paths[0]) as fh:
            fortunes = [orjson.loads(line)["text"] for i, line in enumerate(fh) if i % 500 == 0]
        ingest([_jsonl(work / "fortunes.jsonl", fortunes)], "fortunes", settings=settings)
        ingest([_jsonl(work / "site1.jsonl", _site(corpus, 100, 30))], "site", settings=settings)
        first = run_build(settings, quiet=True, variables=json.dumps(VARS))
        assert first.success, first.record
        ingest([_jsonl(work / "site2.jsonl", _site(corpus, 130, 8))], "site", settings=settings)
        result = CliRunner().invoke(main, ["build", "--vars", json.dumps(VARS), "--report"])
        assert result.exit_code == 0, result.output
        yield settings, result.output


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    """Headless Chromium through Playwright (its own driver; the browser is Debian's), with a fresh profile."""
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as p:
        context = launch(p, profile, viewport={"width": 1200, "height": 900})
        yield context
        context.close()


def visit(context, path: Path, screenshot: Path | None = None) -> tuple[object, list[str]]:
    """Open ``path``; the page, and the URL of every request made while it loaded."""
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.goto(path.as_uri(), wait_until="load")
    if screenshot is not None:
        page.screenshot(path=str(screenshot), full_page=True)
    return page, requests


def cells(page, key: str) -> tuple[str, list[list[str]]]:
    """The SQL shown beside result ``key`` and the table's cells as displayed."""
    sql = page.text_content(f"#{key} pre.sql")
    rows = page.eval_on_selector_all(f"#{key} tbody tr", "rs => rs.map(r => [...r.cells].map(c => c.innerText))")
    return sql, rows


def same(shown: str, value: object) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(shown.replace(",", ""))
        return (math.isnan(number) and math.isnan(value)) or abs(number - float(value)) < 1e-9
    return shown == ("" if value is None else str(value))


def test_build_writes_the_report_and_says_where(lake):
    settings, output = lake
    path = settings.home / "reports" / "build-2.html"
    assert f"report: {path}" in output.splitlines() and path.exists()
    # the suite's own builds write none (tests/conftest.py sets TIERHOUSE_REPORT=0)
    assert not report_enabled() and not (settings.home / "reports" / "build-1.html").exists()


def test_page_renders_offline_with_every_section_and_numbers_equal_to_their_sql(lake, browser, tmp_path):
    settings, _ = lake
    path = settings.home / "reports" / "build-2.html"
    html = path.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#|data:)""", html)  # nothing to fetch: every asset inline
    page, requests = visit(browser, path, tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 20_000
    assert requests and {u.split(":", 1)[0] for u in requests} <= {"file", "data"}, requests
    for key in SECTIONS:
        section = page.locator(f"section#{key}")
        assert section.get_attribute("data-state") == "present", (key, section.inner_text()[:300])
        counts = section.locator("figure.result").evaluate_all("fs => fs.map(f => +f.dataset.rows)")
        assert counts and max(counts) > 0, key
    assert page.locator("section#scores svg").count() >= 1 and page.locator("section#funnel svg").count() >= 1
    assert "no evaluation has been run" in page.inner_text("section#evaluation")
    examples = page.locator("section#rejections details.examples")
    assert examples.count() >= 1 and examples.first.locator("li").count() >= 1
    assert "FOR VERSION AS OF 'build-2'" in page.text_content("#funnel-source pre.sql")
    con = connect(settings)
    for key in ("funnel-source", "rejections-rule", "scores-summary", "verdicts-qa", "diff-tables", "cost-total"):
        sql, shown = cells(page, key)
        expected = con.execute(sql).fetchall()
        assert shown and len(shown) == len(expected), key
        for shown_row, row in zip(shown, expected, strict=True):
            assert all(same(s, v) for s, v in zip(shown_row, row, strict=True)), (key, shown_row, row)
    # the numbers are the build's own: the ledger's calls are the stand-ins' requests recorded in ops.costs
    calls = con.execute("SELECT sum(calls) FROM ops.costs WHERE build_id = 2").fetchone()[0]
    assert calls > 0 and cells(page, "cost-total")[1][0][0] == f"{calls:,}"


def test_request_log_catches_a_page_that_reaches_out(lake, browser, tmp_path):
    """Planted fault: a report with one external image; the same request log must show it."""
    settings, _ = lake
    html = (settings.home / "reports" / "build-2.html").read_text()
    leaky = tmp_path / "leaky.html"
    leaky.write_text(html.replace("<main>", '<main><img src="http://127.0.0.1:9/pixel.png" alt="">', 1))
    _, requests = visit(browser, leaky)
    assert "http://127.0.0.1:9/pixel.png" in requests


def test_report_of_a_first_build_says_what_it_lacks(lake, tmp_path):
    settings, _ = lake
    result = CliRunner().invoke(main, ["report", "--build", "1", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "build-1.html").read_text()
    assert re.search(r'<section id="diff" data-state="missing">.*?no build before build 1', html)
    assert "compared with build" not in html
    missing = CliRunner().invoke(main, ["report", "--build", "9", "--out", str(tmp_path)])
    assert missing.exit_code != 0 and "no build 9 in ops.builds; recorded builds: 1, 2" in missing.output
    unknown = CliRunner().invoke(main, ["report", "--build", "2", "--against", "7", "--out", str(tmp_path)])
    assert unknown.exit_code != 0 and "--against 7: no build of that id recorded or tagged; known: [1, 2]" in " ".join(
        unknown.output.split()
    )


def test_build_says_when_its_report_cannot_be_written(lake, capsys):
    """Planted fault: a record naming a build the lake does not have; the build command reports it and goes on."""
    settings, _ = lake
    _build_report(settings, {"build_id": 99}, write=True)
    assert "report not written (ReportError: no build 99 in ops.builds" in " ".join(capsys.readouterr().err.split())
    assert not (settings.home / "reports" / "build-99.html").exists()

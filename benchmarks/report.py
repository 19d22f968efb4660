"""Charts for the build report: matplotlib as inline SVG against Plotly with plotly.js inlined.

    .venv/bin/python benchmarks/report.py [--home lake] [--repeat 5]

Both draw the same two charts from a real lake: a histogram of every numeric score in ``ops.scores``
and the per-source funnel as bars. For each library: the bytes of a self-contained page holding both
charts, the Python seconds to make it, and the seconds headless Chromium (Debian's, through Playwright)
takes from opening the file until both charts are drawn. Needs ``plotly`` (extra ``bench``) and
/usr/bin/chromium (scripts/chromium.sh).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def data(home: Path) -> tuple[dict[str, list[float]], list[str], dict[str, list[float]]]:
    from warehouse.config import load_settings
    from warehouse.query import connect

    con = connect(load_settings(home))
    scores: dict[str, list[float]] = defaultdict(list)
    for scorer, score in con.execute(
        "SELECT scorer, score FROM ops.scores WHERE status = 'ok' AND score IS NOT NULL AND scorer LIKE 'edu%'"
    ).fetchall():
        scores[scorer].append(score)
    rows = con.execute(
        "SELECT source, 'L0' AS tier, count(*) FROM tiers.l0_raw GROUP BY ALL UNION ALL "
        "SELECT source, 'L1 kept', count(*) FROM tiers.l1_clean WHERE kept GROUP BY ALL UNION ALL "
        "SELECT source, 'L2', count(*) FROM tiers.l2_selected GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    sources = sorted({r[0] for r in rows})
    series: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(sources))
    for source, tier, n in rows:
        series[tier][sources.index(source)] = n
    return dict(scores), sources, dict(series)


def matplotlib_page(scores, sources, series) -> str:
    from warehouse.report import charts

    body = charts.histograms(scores, xlabel="edu score") + charts.bars(
        sources, series, xlabel="documents", ylabel="source", log=True
    )
    return f"<!DOCTYPE html><html><body>{body}</body></html>"


def plotly_page(scores, sources, series) -> str:
    import plotly.graph_objects as go

    hist = go.Figure([go.Histogram(x=v, name=k, histnorm="probability", nbinsx=30) for k, v in scores.items()])
    hist.update_layout(xaxis_title="edu score", yaxis_title="share of scored texts", barmode="overlay")
    bars = go.Figure([go.Bar(y=sources, x=v, name=k, orientation="h") for k, v in series.items()])
    bars.update_layout(xaxis_title="documents", xaxis_type="log", yaxis_title="source")
    body = hist.to_html(full_html=False, include_plotlyjs=True) + bars.to_html(full_html=False, include_plotlyjs=False)
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>"


CASES = {
    "matplotlib (inline SVG)": (matplotlib_page, "document.querySelectorAll('svg').length >= 2"),
    "plotly (plotly.js inlined)": (plotly_page, "document.querySelectorAll('.main-svg').length >= 2"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path("lake"))
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from warehouse.report.headless import launch

    inputs = data(args.home)
    n = sum(len(v) for v in inputs[0].values())
    print(f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, {n:,} scores, {len(inputs[1])} sources")
    print("| library | page bytes | make page s (median) | Chromium open-to-drawn s (median) |")
    print("|---|---|---|---|")
    work = Path(tempfile.mkdtemp())
    with sync_playwright() as p:
        context = launch(p, work / "profile")
        for name, (make, drawn) in CASES.items():
            made, shown = [], []
            for i in range(args.repeat):
                started = time.perf_counter()
                html = make(*inputs)
                made.append(time.perf_counter() - started)
                path = work / f"{i}-{len(made)}-{make.__name__}.html"
                path.write_text(html)
                page = context.new_page()
                started = time.perf_counter()
                page.goto(path.as_uri(), wait_until="load")
                page.wait_for_function(drawn)
                shown.append(time.perf_counter() - started)
                page.close()
            print(
                f"| {name} | {len(html.encode()):,} | {statistics.median(made):.3f} | {statistics.median(shown):.3f} |"
            )
        context.close()


if __name__ == "__main__":
    main()

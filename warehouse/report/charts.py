"""Charts as inline SVG from matplotlib: no script and no network, text kept as text (small, searchable).

Colours are the Okabe-Ito palette, distinguishable with the common colour-vision deficiencies;
every axis is labelled. benchmarks/report.py measured this against Plotly with its script inlined.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
_STYLE = {
    "svg.fonttype": "none",  # text stays <text>, not paths
    "svg.hashsalt": "tierhouse",  # stable ids: the same build gives the same page
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
}


def _svg(fig: plt.Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str,
    ylabel: str,
    log: bool = False,
) -> str:
    """Grouped horizontal bars: one group per category, one bar per series."""
    with plt.rc_context(_STYLE):
        height = max(1.6, 0.28 * len(categories) * max(1, len(series)) ** 0.6 + 0.8)
        fig, ax = plt.subplots(figsize=(7.5, height))
        width = 0.8 / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            positions = [c + (i - (len(series) - 1) / 2) * width for c in range(len(categories))]
            ax.barh(positions, values, height=width, label=name, color=OKABE_ITO[i % len(OKABE_ITO)])
        ax.set_yticks(range(len(categories)), categories)
        ax.invert_yaxis()
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if len(series) > 1:
            ax.legend(frameon=False, fontsize=8, loc="best")
        return _svg(fig)


def histograms(samples: Mapping[str, Sequence[float]], *, xlabel: str, bins: int = 30) -> str:
    """Overlaid histograms on shared bins, as shares of each sample (samples differ in size)."""
    values = [v for s in samples.values() for v in s]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 2.6))
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        edges = [low + (high - low) * i / bins for i in range(bins + 1)] if high > low else bins
        for i, (name, sample) in enumerate(samples.items()):
            weights = [1 / len(sample)] * len(sample)
            ax.hist(
                sample,
                bins=edges,
                weights=weights,
                histtype="step",
                linewidth=1.6,
                color=OKABE_ITO[i % len(OKABE_ITO)],
                label=f"{name} (n={len(sample):,})",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("share of scored texts")
        ax.legend(frameon=False, fontsize=8)
        return _svg(fig)


def lines(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], *, xlabel: str, ylabel: str) -> str:
    """One line with markers per series of (xs, ys)."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 3.2))
        for i, (name, (xs, ys)) in enumerate(series.items()):
            style = ("-", "--", ":", "-.")[i // len(OKABE_ITO) % 4]
            ax.plot(xs, ys, style, marker=".", color=OKABE_ITO[i % len(OKABE_ITO)], label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=8)
        return _svg(fig)

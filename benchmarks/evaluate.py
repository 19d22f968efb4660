"""Tabulate `tierhouse evaluate` runs from ops.evaluations: arms with 95% CIs, loss curves (CSV + PNG).

    python benchmarks/evaluate.py --home LAKE EVAL_ID [EVAL_ID ...] --out benchmarks/evaluate

Prints a markdown table (one line per arm and evaluation) and writes OUT/curves.csv and OUT/curves.svg
(the eval loss of each arm, mean over its seeds, against training tokens; drawn like the build report's).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from warehouse.config import load_settings
from warehouse.evaluate.metrics import summarise
from warehouse.evaluate.results import mean_ci
from warehouse.query import connect
from warehouse.report import charts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("eval_ids", nargs="+")
    parser.add_argument("--home", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    con = connect(load_settings(args.home))
    marks = ", ".join("?" for _ in args.eval_ids)
    rows = con.execute(
        f"SELECT eval_id, arm, seed, tokens, config, metrics, curve FROM ops.evaluations WHERE eval_id IN ({marks}) "
        "ORDER BY evaluated_at, arm, seed",
        args.eval_ids,
    ).fetchall()
    # summarised here from the per-seed rows, so an evaluation still running in pieces tabulates too
    per_arm: dict[tuple[str, str], list[tuple[int, dict, dict]]] = {}
    for eval_id, arm, seed, tokens, config, metrics, _ in rows:
        if seed is not None:
            per_arm.setdefault((eval_id, arm), []).append((tokens, json.loads(config), json.loads(metrics)))
    summaries = [(e, a, runs[0][0], runs[0][1], summarise([m for *_, m in runs])) for (e, a), runs in per_arm.items()]
    slices = sorted({k for *_, m in summaries for k in m if k.startswith("slices.")})
    head = ["eval", "arm", "mixture", "seeds", "tokens", "eval loss", "eval ppl", *slices]
    head += ["L4 cloze", "unigram", "s/run"]
    print("| " + " | ".join(h.removeprefix("slices.") for h in head) + " |")
    print("|" + "---|" * len(head))
    for eval_id, arm, tokens, config, m in summaries:
        mixture = config["mixture"]["name"] if arm in ("mixed", "staged") else arm
        cells = [eval_id[:8], arm, mixture, str(m["eval_loss"]["n"]), f"{tokens:,}", mean_ci(m, "eval_loss"),
                 mean_ci(m, "eval_ppl", 1), *(mean_ci(m, k) for k in slices), mean_ci(m, "l4_cloze_accuracy", 2),
                 mean_ci(m, "unigram_eval_loss"), mean_ci(m, "train_seconds", 0)]  # fmt: skip
        print("| " + " | ".join(cells) + " |")

    curves: dict[str, dict[int, list[float]]] = {}
    for _, arm, seed, _, config, _, curve in rows:
        if seed is None:
            continue
        name = f"{arm} ({json.loads(config)['mixture']['name']})" if arm in ("mixed", "staged") else arm
        for point in json.loads(curve):
            curves.setdefault(name, {}).setdefault(point["tokens"], []).append(point["eval_loss"])
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "curves.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arm", "tokens", "eval_loss_mean", "eval_loss_min", "eval_loss_max", "seeds"])
        for name, points in curves.items():
            for tokens, values in sorted(points.items()):
                writer.writerow([name, tokens, f"{np.mean(values):.4f}", f"{min(values):.4f}", f"{max(values):.4f}",
                                 len(values)])  # fmt: skip
    lines = {name: (sorted(p), [float(np.mean(p[x])) for x in sorted(p)]) for name, p in curves.items()}
    svg = charts.lines(lines, xlabel="training tokens", ylabel="eval loss (nats/token), mean over seeds")
    (args.out / "curves.svg").write_text(svg)


if __name__ == "__main__":
    main()

"""The CLI: ``tierhouse evaluate`` (proxy models per arm) and ``tierhouse holdout`` (the held-out eval text)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table

from warehouse.catalog import open_catalog
from warehouse.evaluate.results import mean_ci
from warehouse.export.pins import PinError
from warehouse.export.slices import MixtureError, parse_mix

out = Console(width=None if sys.stdout.isatty() else 180)
DEFAULT_MIX = "l1:1,l2:1,l3:1"


def _mixture(catalog, mix: str | None, mixture_ref: str | None) -> tuple[dict[str, float], str]:
    from warehouse.export.mixtures import get_mixture

    if mix and mixture_ref:
        raise click.UsageError("give --mix or --mixture, not both")
    if mixture_ref:
        stored = get_mixture(catalog, mixture_ref)
        return stored.weights, stored.ref
    return parse_mix(mix or DEFAULT_MIX), f"inline:{mix or DEFAULT_MIX}"


@click.command("evaluate")
@click.option("--as-of", help="Evaluate this build (build-N or N). Default: the newest build.")
@click.option(
    "--arms",
    default="l1,l2,l3,mixed,staged",
    show_default=True,
    help="Arms: l1, l2, l3 (one tier each), mixed (the mixture, shuffled), staged (the same, L1-L2 then L3).",
)
@click.option(
    "--tokens", type=click.IntRange(min=1), required=True, help="Training tokens per arm (the export budget)."
)
@click.option(
    "--eval",
    "eval_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Held-out text: JSONL with a 'text' field (e.g. from `tierhouse holdout`), or one text file.",
)
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(min=1), help="Seeds 0..N-1 per arm.")
@click.option("--mix", help=f"Weights of mixed/staged over L1-L3 slices (default {DEFAULT_MIX}).")
@click.option("--mixture", "mixture_ref", help="A stored mixture (NAME[@VERSION]) for mixed/staged.")
@click.option(
    "--feedback-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the mixed arm's per-slice held-out losses as CSV for `tierhouse feedback import`.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the arms' exports. Default: TIERHOUSE_HOME/evaluations.",
)
@click.option(
    "--eval-id",
    help="Name of this evaluation. Default: a digest of its settings (build, tokens, mixture, model, eval file), "
    "so re-running skips the arm/seed runs already recorded and pieces (--arms l1,l2 then --arms l3) add up.",
)
@click.option("--dim", default=64, show_default=True, help="Model width.")
@click.option("--layers", default=2, show_default=True, help="Transformer blocks.")
@click.option("--context", default=64, show_default=True, help="Tokens per training window.")
@click.option("--batch", default=8, show_default=True, help="Windows per step.")
@click.option("--threads", default=2, show_default=True, help="Torch threads (fixed: results depend on it).")
@click.option("--slice-tokens", default=16_384, show_default=True, help="Held-out tokens scored per slice.")
@click.option("--json", "as_json", is_flag=True, help="Print the per-arm summaries as JSON.")
@click.option("--progress/--no-progress", default=None)
@click.pass_context
def evaluate_cmd(
    ctx: click.Context, as_of: str | None, arms: str, tokens: int, eval_path: Path, seeds: int, mix: str | None,
    mixture_ref: str | None, feedback_out: Path | None, out_dir: Path | None, dim: int, layers: int, context: int,
    eval_id: str | None, batch: int, threads: int, slice_tokens: int, as_json: bool, progress: bool | None,
) -> None:  # fmt: skip
    """Train a small causal LM from scratch per arm and seed on TOKENS tokens of its export; score each on
    the --eval text, on every held-out slice and (where L4 exists) on held-out L4 cloze items.

    \b
    Results go to ops.evaluations: a row per arm and seed as soon as it is trained (a re-run with the same
    settings skips those), then a row per arm with means and 95% CIs over the seeds.
      tierhouse holdout --as-of build-1 --out eval.jsonl
      tierhouse evaluate --as-of build-1 --tokens 250000 --eval eval.jsonl --feedback-out losses.csv
    """
    from warehouse.evaluate.model import ModelConfig
    from warehouse.evaluate.results import write_feedback
    from warehouse.evaluate.run import FEEDBACK_ARM, Plan, evaluate
    from warehouse.evaluate.streams import EvaluateError, parse_arms
    from warehouse.evaluate.train import TrainConfig
    from warehouse.export.dataset import ExportError

    settings = ctx.obj["settings"]
    catalog = open_catalog(settings)
    try:
        weights, label = _mixture(catalog, mix, mixture_ref)
        chosen = parse_arms(arms, weights, label)
        if feedback_out and FEEDBACK_ARM not in {a.name for a in chosen}:
            raise click.UsageError(f"--feedback-out needs the {FEEDBACK_ARM} arm: its losses are the signal")
        if dim % 4:
            raise click.UsageError(f"--dim {dim}: use a multiple of 4 (4 attention heads)")
        plan = Plan(chosen, list(range(seeds)), tokens, eval_path, weights, label, as_of, slice_tokens,
                    model=ModelConfig(dim=dim, layers=layers, context=context),
                    train=TrainConfig(batch=batch, threads=threads))  # fmt: skip
        result = evaluate(catalog, plan, out_dir or settings.home / "evaluations", show=progress, eval_id=eval_id)
    except (EvaluateError, MixtureError, ExportError, PinError) as exc:
        raise click.ClickException(str(exc)) from exc
    if feedback_out:
        write_feedback(feedback_out, result.feedback)
    if as_json:
        summary = {"eval_id": result.eval_id, "arms": result.summaries}
        click.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
        return
    slice_keys = sorted({k for s in result.summaries.values() for k in s if k.startswith("slices.")})
    view = Table("arm", "eval loss", "eval ppl", *(k.removeprefix("slices.") for k in slice_keys), "L4 cloze",
                 "unigram", "s/run", title=f"evaluation {result.eval_id}: build {result.build_id}, {tokens:,} tokens, "
                 f"seeds 0..{seeds - 1} (mean ± 95% CI)")  # fmt: skip
    for arm, s in result.summaries.items():
        cells = [mean_ci(s, "eval_loss"), mean_ci(s, "eval_ppl", 1), *(mean_ci(s, k) for k in slice_keys)]
        cells += [mean_ci(s, "l4_cloze_accuracy", 2), mean_ci(s, "unigram_eval_loss"), mean_ci(s, "train_seconds", 0)]
        view.add_row(arm, *cells)
    out.print(view)
    if feedback_out:
        out.print(f"per-slice losses of {FEEDBACK_ARM} → {feedback_out}; next: tierhouse feedback import "
                  f"{feedback_out} --mixture NAME")  # fmt: skip


@click.command("holdout")
@click.option("--as-of", help="Read this build (build-N or N). Default: the newest build.")
@click.option("--mix", default=DEFAULT_MIX, show_default=True, help="Slices to draw from (as the export assigns them).")
@click.option("--chars", default=200_000, show_default=True, help="About this many characters per slice.")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL file: doc_id, slice, tier, source, text per line.",
)
@click.pass_context
def holdout_cmd(ctx: click.Context, as_of: str | None, mix: str, chars: int, out_path: Path) -> None:
    """Write held-out documents (never exported, never trained on) as an eval file for `tierhouse evaluate`."""
    from warehouse.evaluate.streams import held_out_docs

    try:
        build_id, docs = held_out_docs(open_catalog(ctx.obj["settings"]), parse_mix(mix), as_of, chars)
    except (MixtureError, PinError) as exc:
        raise click.ClickException(str(exc)) from exc
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(b"".join(orjson.dumps(d.__dict__) + b"\n" for d in docs))
    out.print(f"{len(docs):,} held-out documents of build {build_id} → {out_path}")


COMMANDS = (evaluate_cmd, holdout_cmd)

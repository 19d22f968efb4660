"""The CLI of the training loop: ``export``, ``mixtures``, ``feedback import`` and ``cost``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.table import Table

from warehouse.catalog import open_catalog
from warehouse.export.slices import MixtureError, parse_mix

out = Console(width=None if sys.stdout.isatty() else 160)


def _catalog(ctx: click.Context):
    return open_catalog(ctx.obj["settings"])


def _weights(weights: dict[str, float]) -> str:
    return ", ".join(f"{k}:{v:.4f}" for k, v in weights.items())


@click.command("export")
@click.option("--stage", required=True, help="Training stage (dbt var export_stages): pretrain, midtrain, alignment.")
@click.option("--as-of", help="Export this build (build-N or N). Default: the newest build.")
@click.option("--mixture", "mixture_ref", help="A stored mixture, NAME or NAME@VERSION (tierhouse mixtures).")
@click.option("--mix", help='Inline slice weights, e.g. "l2:0.7,l3:0.3" or "l2/sotu:1,l2/debian_handbook:3".')
@click.option("--tokens", type=click.IntRange(min=1), help="Token budget. Default: all that every slice covers once.")
@click.option("--seed", default=0, show_default=True, help="Seeds the sample and the record order.")
@click.option(
    "--overflow",
    type=click.Choice(["renormalise", "repeat"]),
    help="A slice short of tokens: give its shortfall to the others, or repeat it (default: the stage's).",
)
@click.option("--max-repeat", type=click.IntRange(min=1), help="Epochs a short slice may repeat (--overflow repeat).")
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl"]), default="parquet", show_default=True)
@click.option("--shard-docs", default=100_000, show_default=True, help="Records per shard at most.")
@click.option("--shard-mb", default=256, show_default=True, help="MB of text per shard at most.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder; the stage's shards and manifest.json go to OUT/STAGE.",
)
@click.option("--overwrite", is_flag=True, help="Replace an export already in OUT/STAGE.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.pass_context
def export_cmd(
    ctx: click.Context, stage: str, as_of: str | None, mixture_ref: str | None, mix: str | None,
    tokens: int | None, seed: int, overflow: str | None, max_repeat: int | None, fmt: str, shard_docs: int,
    shard_mb: int, out_dir: Path, overwrite: bool, as_json: bool,
) -> None:  # fmt: skip
    """Write a training stage's dataset, pinned to a build, as shards plus manifest.json under OUT/STAGE.

    \b
    Each document is exported once, from the highest tier of the mixture that holds it (L1 exports
    its kept rows; alignment exports L4's question/answer/evidence records). Re-exporting the same
    build with the same mixture and seed gives byte-identical shards and manifest.
      tierhouse export --stage pretrain --as-of build-3 --mix "l1:0.3,l2:0.7" --tokens 2000000 --out exports
    """
    from warehouse.build import default_project_dir
    from warehouse.export.dataset import ExportError, Mixture, export_stage
    from warehouse.export.mixtures import get_mixture
    from warehouse.export.pins import PinError
    from warehouse.export.stages import load_stages

    catalog = _catalog(ctx)
    try:
        stages = load_stages(default_project_dir())
        if stage not in stages:
            raise MixtureError(f"unknown stage {stage!r}; stages (dbt var export_stages): {', '.join(stages)}")
        defaults = stages[stage]
        if mix and mixture_ref:
            raise click.UsageError("give --mix or --mixture, not both")
        if mix:
            weights, label = parse_mix(mix), None
        elif mixture_ref:
            stored = get_mixture(catalog, mixture_ref)
            weights, label = stored.weights, stored.ref
        else:
            weights, label = defaults.weights, f"default:{stage}"
        mixture = Mixture(weights, label, overflow or defaults.overflow, max_repeat or defaults.max_repeat)
        result = export_stage(
            catalog, stage, mixture, out_dir, as_of=as_of, tokens=tokens, seed=seed, fmt=fmt,
            shard_docs=shard_docs, shard_bytes=shard_mb * 1024 * 1024, overwrite=overwrite,
        )  # fmt: skip
    except (MixtureError, ExportError, PinError) as exc:
        raise click.ClickException(str(exc)) from exc
    manifest = result.manifest
    if as_json:
        click.echo(orjson.dumps(manifest, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
        return
    title = f"export {result.export_id}: {stage} from build {manifest['build']['id']} → {result.folder}"
    view = Table("slice", "weight", "share", "documents", "tokens", "available tokens", "epochs", title=title)
    for key, s in manifest["slices"].items():
        view.add_row(key, f"{s['weight']:.3f}", f"{s['share']:.3f}", f"{s['documents']:,}", f"{s['tokens']:,}",
                     f"{s['available']['tokens']:,}", str(s["epochs"]))  # fmt: skip
    out.print(view)
    shards = manifest["shards"]
    out.print(
        f"{sum(s['records'] for s in shards):,} records, {manifest['tokens']['exported']:,} tokens "
        f"({manifest['tokenizer']['name']}) in {len(shards)} shard(s); seed {manifest['seed']}; "
        f"LLM cost of these documents: {manifest['cost']['total']:.4f}"
    )


@click.group("mixtures", invoke_without_command=True)
@click.pass_context
def mixtures(ctx: click.Context) -> None:
    """Stored mixtures (ops.mixtures) and their lineage; `create` stores one."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(mixtures_list)


@mixtures.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def mixtures_list(ctx: click.Context, as_json: bool) -> None:
    """Every mixture version: weights, parent, the feedback that produced it, who made it and when."""
    from warehouse.export.mixtures import list_mixtures

    stored = list_mixtures(_catalog(ctx))
    if as_json:
        click.echo(orjson.dumps([m.__dict__ for m in stored], option=orjson.OPT_INDENT_2).decode())
        return
    view = Table("mixture", "stage", "weights", "parent", "from feedback", "created")
    for m in stored:
        fed = f"{m.feedback['file']} ({m.feedback['sha256'][:12]})" if m.feedback else ""
        view.add_row(m.ref, m.stage, _weights(m.weights), m.parent or "", fed,
                     f"{m.created_at:%Y-%m-%d %H:%M} {m.created_by or ''}")  # fmt: skip
    out.print(view)
    if not stored:
        out.print("no mixtures yet: tierhouse mixtures create NAME --stage pretrain --mix 'l1:0.5,l2:0.5'")


@mixtures.command("create")
@click.argument("name")
@click.option("--stage", required=True)
@click.option("--mix", required=True, help='Slice weights, e.g. "l1:0.5,l2:0.5".')
@click.option("--note", help="Why this mixture exists.")
@click.pass_context
def mixtures_create(ctx: click.Context, name: str, stage: str, mix: str, note: str | None) -> None:
    """Store a mixture as NAME's next version."""
    from warehouse.export.mixtures import save_mixture

    try:
        stored = save_mixture(_catalog(ctx), name, stage, parse_mix(mix), note=note)
    except MixtureError as exc:
        raise click.ClickException(str(exc)) from exc
    out.print(f"stored {stored.ref}: {_weights(stored.weights)}")


@click.group("feedback")
def feedback() -> None:
    """Training signals in, the next mixture out."""


@feedback.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mixture", "mixture_ref", required=True, help="The mixture the training run used (NAME[@VERSION]).")
@click.option("--eta", default=1.0, show_default=True, help="Learning rate of the multiplicative update.")
@click.option("--max-step", default=0.1, show_default=True, help="Largest change of any weight in one step.")
@click.option("--floor", default=0.02, show_default=True, help="Smallest weight any slice keeps.")
@click.pass_context
def feedback_import(
    ctx: click.Context, path: Path, mixture_ref: str, eta: float, max_step: float, floor: float
) -> None:
    """Read per-slice losses from PATH (CSV or JSON) and store the mixture they propose as NAME's next version.

    \b
    CSV: slice,loss[,reference_loss]   JSON: [{"slice": "l2", "loss": 2.9}, ...] or {"l2": 2.9, ...}
    Rule (DoReMi excess loss, bounded): slices whose loss exceeds their reference (default: the
    mixture's weighted mean loss) gain weight; no weight moves more than --max-step; each keeps --floor.
    """
    from warehouse.export.feedback import Rule, propose, read_feedback
    from warehouse.export.mixtures import get_mixture, save_mixture

    catalog = _catalog(ctx)
    try:
        current = get_mixture(catalog, mixture_ref)
        signals, digest = read_feedback(path)
        rule = Rule(eta, max_step, floor)
        weights = propose(current.weights, signals, rule)
        info = {"file": path.name, "sha256": digest, "signals": {k: s.__dict__ for k, s in sorted(signals.items())}}
        stored = save_mixture(catalog, current.name, current.stage, weights, parent=current.ref, feedback=info,
                              rule=rule.describe())  # fmt: skip
    except MixtureError as exc:
        raise click.ClickException(str(exc)) from exc
    view = Table("slice", "loss", "reference", current.ref, stored.ref, "change", title="feedback → next mixture")
    for key in current.weights:
        s = signals.get(key)
        ref = "" if s is None else ("mean" if s.reference is None else f"{s.reference:.4f}")
        view.add_row(key, "" if s is None else f"{s.loss:.4f}", ref, f"{current.weights[key]:.4f}",
                     f"{stored.weights[key]:.4f}", f"{stored.weights[key] - current.weights[key]:+.4f}")  # fmt: skip
    out.print(view)
    out.print(f"stored {stored.ref}; export with: tierhouse export --stage {stored.stage} --mixture {stored.ref}")


@click.command("cost")
@click.option("--build", "build_id", type=int, help="Build id (default: the newest build with a ledger).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def cost(ctx: click.Context, build_id: int | None, as_json: bool) -> None:
    """The cost ledger of a build: per tier, source and LLM step, calls made and served from cache, tokens, cost."""
    from warehouse.query import connect

    con = connect(ctx.obj["settings"])
    if build_id is None:
        build_id = con.execute("SELECT max(build_id) FROM ops.costs").fetchone()[0]
    if build_id is None:
        raise click.ClickException("no build has recorded LLM costs yet (ops.costs is empty)")
    result = con.execute(
        "SELECT tier, source, step, backend, model, calls, cached, failed, tokens_in, tokens_out, "
        "backend_seconds, cost FROM ops.costs WHERE build_id = ? ORDER BY tier, source, step, model",
        [build_id],
    )
    columns = [d[0] for d in result.description]
    rows = [dict(zip(columns, r, strict=True)) for r in result.fetchall()]
    if as_json:
        click.echo(orjson.dumps({"build_id": build_id, "rows": rows}, option=orjson.OPT_INDENT_2).decode())
        return
    view = Table(*columns, title=f"cost ledger of build {build_id}")
    for r in rows:
        view.add_row(r["tier"], r["source"], r["step"], r["backend"] or "", r["model"] or "", f"{r['calls']:,}",
                     f"{r['cached']:,}", f"{r['failed']:,}", f"{r['tokens_in']:,}", f"{r['tokens_out']:,}",
                     f"{r['backend_seconds']:.1f}", f"{r['cost']:.4f}")  # fmt: skip
    out.print(view)
    total = sum(r["cost"] for r in rows)
    out.print(f"{sum(r['calls'] for r in rows):,} calls, {sum(r['cached'] for r in rows):,} served from cache, "
              f"estimated cost {total:.4f} (prices: dbt var llm_prices, as recorded by the build)")  # fmt: skip


COMMANDS = (export_cmd, mixtures, feedback, cost)

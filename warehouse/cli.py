"""The ``tierhouse`` command line."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click
import duckdb
import orjson
from rich.console import Console
from rich.table import Column, Table

from warehouse.catalog import open_catalog
from warehouse.config import Settings, load_settings
from warehouse.corpus import CorpusError, load_manifest, prepare
from warehouse.evaluate.commands import COMMANDS as EVALUATE_COMMANDS
from warehouse.export.commands import COMMANDS as EXPORT_COMMANDS
from warehouse.ingest import FORMATS, IngestSummary, ingest
from warehouse.objectstore import redact
from warehouse.query import connect
from warehouse.tables import ALL_TABLES, init_warehouse, resolve_name

# Piped output is not squeezed into 80 columns; a terminal's own width is used as is.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

INGEST_EXIT_CODES = """\b
Exit codes:
  0  at least one record was read (rejects are quarantined, not errors; skips count as read)
  1  nothing could be read: every input was missing, unreadable or rejected
  2  bad usage (unknown option, missing --source)
"""


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


class RedactingGroup(click.Group):
    """Commands whose errors never show a credential: a message holding a configured secret is masked."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            exc.message = redact(exc.message, load_settings())
            raise
        except Exception as exc:
            settings = load_settings()
            text = f"{type(exc).__name__}: {exc}"
            if redact(text, settings) == text:
                raise
            raise click.ClickException(redact(text, settings)) from None


@click.group(cls=RedactingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    envvar="TIERHOUSE_HOME",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the embedded lake (catalog.db + warehouse/). Default: ./lake, or $TIERHOUSE_HOME.",
)
@click.version_option(package_name="tierhouse")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """tierhouse: a lakehouse for LLM training data, with SQL-level quality tiers.

    Every tier is a versioned Apache Iceberg table. Start with `tierhouse quickstart`.
    """
    ctx.ensure_object(dict)
    ctx.obj["settings"] = load_settings(home)


@main.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the catalog, namespaces and every tier and ops table (safe to repeat)."""
    settings = _settings(ctx)
    names = init_warehouse(open_catalog(settings))
    out.print(f"warehouse ready at [bold]{settings.home}[/] with {len(names)} tables: {', '.join(names)}")


def print_summary(summary: IngestSummary) -> None:
    """A human summary of one ingest: counts, rates and one example per quarantine reason."""
    table = Table(title=f"ingest {summary.source} ({summary.ingest_batch})", show_header=False)
    for label, value in [
        ("files", summary.files),
        ("records read", summary.read),
        ("ingested", summary.ingested),
        ("duplicates in this input", summary.duplicates_in_input),
        ("duplicates already in L0", summary.duplicates_in_l0),
        ("quarantined", summary.quarantined),
        ("skipped (redirects, non-articles)", summary.skipped),
        ("throughput", f"{summary.docs_per_second:,.0f} docs/s, {summary.mb_per_second:,.1f} MB/s"),
    ]:
        table.add_row(label, f"{value:,}" if isinstance(value, int) else value)
    out.print(table)
    for reason, count in sorted(summary.by_reason.items()):
        ex = summary.examples[reason]
        out.print(f"  [yellow]{reason}[/] × {count:,}  e.g. {ex['file']} {ex['location']}: {ex['message']}")
    if summary.quarantined:
        out.print("  rejected inputs are in ops.quarantine with their raw bytes")
    for reason, count in sorted(summary.skipped_by_reason.items()):
        out.print(f"  skipped [cyan]{reason}[/] × {count:,}")


@main.command("ingest", epilog=INGEST_EXIT_CODES)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", required=True, help="Name of the source these documents come from (kept on every row).")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="Read every file as this format (default: detect by name)."
)
@click.option("--text-field", default="text", show_default=True, help="JSONL key / Parquet column holding the text.")
@click.option("--id-field", help="JSONL key / Parquet column with the record's own id (stored as source_id).")
@click.option("--glob", "pattern", help="Only read files under directories that match this pattern, e.g. '*.html'.")
@click.option("--uri-prefix", help="Write URIs as PREFIX/relative-path instead of file:// URIs.")
@click.option("--max-record-bytes", type=int, help="Quarantine records larger than this (default 16 MiB).")
@click.option(
    "--wiki-infobox",
    is_flag=True,
    help="MediaWiki dumps: keep each article's infobox parameters as facts in extra.infobox (for L4).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal).")
@click.pass_context
def ingest_cmd(
    ctx: click.Context,
    paths: tuple[Path, ...],
    source: str,
    fmt: str | None,
    text_field: str,
    id_field: str | None,
    pattern: str | None,
    uri_prefix: str | None,
    max_record_bytes: int | None,
    wiki_infobox: bool,
    as_json: bool,
    progress: bool | None,
) -> None:
    """Read PATHS (files or folders; JSONL[.gz|.bz2|.zst], Parquet, text/Markdown, HTML, WARC, MediaWiki XML
    dumps) into tiers.l0_raw.

    A file whose root element is <mediawiki> is read as a dump, whatever its name: one plain-text
    document per article; redirects and other namespaces are counted as skipped. Re-ingesting the
    same input adds nothing; bad records go to ops.quarantine with the reason.
    """
    settings = _settings(ctx).with_overrides(max_record_bytes=max_record_bytes)
    summary = ingest(
        list(paths),
        source,
        settings=settings,
        fmt=fmt,
        text_field=text_field,
        id_field=id_field,
        pattern=pattern,
        uri_prefix=uri_prefix,
        wiki_infobox=wiki_infobox,
        show_progress=progress,
    )
    if as_json:
        click.echo(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        print_summary(summary)
    if summary.ingested + summary.duplicates + summary.skipped == 0:
        err.print(f"ingest: nothing could be read from {len(paths)} path(s) ({summary.quarantined} rejected)")
        ctx.exit(1)


def _emit(result: duckdb.DuckDBPyRelation | None, fmt: str, out_path: Path | None = None) -> None:
    """Write a query result as a table, CSV, JSON or Parquet, to stdout or ``out_path``."""
    if result is None:
        return
    if fmt == "parquet":
        if out_path is None:
            raise click.UsageError("--format parquet needs --out FILE")
        result.to_parquet(str(out_path))
        err.print(f"wrote {out_path}")
        return
    columns, rows = result.columns, result.fetchall()
    sink = out_path.open("w", newline="") if out_path else sys.stdout
    try:
        if fmt == "csv":
            writer = csv.writer(sink)
            writer.writerow(columns)
            writer.writerows(rows)
        elif fmt == "json":
            records = [dict(zip(columns, row, strict=True)) for row in rows]
            sink.write(orjson.dumps(records, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            table = Table(*columns)
            for row in rows:
                table.add_row(*("NULL" if v is None else str(v) for v in row))
            console = Console(file=sink, width=160) if out_path else out
            console.print(table)
            console.print(f"({len(rows):,} row{'s' if len(rows) != 1 else ''})")
    finally:
        if out_path:
            sink.close()


@main.command()
@click.argument("query", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table", show_default=True
)
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the result here.")
@click.pass_context
def sql(ctx: click.Context, query: str | None, fmt: str, out_path: Path | None) -> None:
    """Run QUERY with DuckDB over the lake, or open an interactive shell when no QUERY is given.

    \b
    Tables: tiers.l0_raw … tiers.l4_knowledge, ops.quarantine, ops.scores, ops.builds, ops.exports,
    ops.mixtures, ops.costs (`tierhouse init` lists them all).
    Time travel (Trino/Spark syntax):
      SELECT count(*) FROM tiers.l2_selected FOR VERSION AS OF 'build-3'
      SELECT * FROM tiers.l1_clean FOR TIMESTAMP AS OF '2026-11-26 09:00:00'
      SELECT * FROM tiers.l2_selected AT (VERSION => 'audit')
    Lake tables are read-only here; CREATE TABLE scratch AS SELECT … is fine.
    """
    from warehouse.shell import run_shell
    from warehouse.timetravel import ReadOnlyError, TimeTravelError

    con = connect(_settings(ctx))
    if query is None:
        run_shell(con, lambda rel: _emit(rel, "table"), out.print)
        return
    try:
        result = con.sql(query)
    except (TimeTravelError, ReadOnlyError, SyntaxError) as exc:
        raise click.ClickException(str(exc)) from exc
    except duckdb.Error as exc:
        raise click.ClickException(f"sql: {exc}") from exc
    _emit(result, fmt, out_path)


@main.command("diff")
@click.argument("table")
@click.argument("a")
@click.argument("b")
@click.option("--sample", default=5, show_default=True, help="Example rows shown per kind of change.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def diff_cmd(ctx: click.Context, table: str, a: str, b: str, sample: int, as_json: bool) -> None:
    """What changed in TABLE from state A to state B (snapshot ids, tags, build-N, or ISO times)."""
    from warehouse.diff import diff
    from warehouse.timetravel import TimeTravelError

    settings = _settings(ctx)
    con = connect(settings)
    try:
        result = diff(con, con.catalog, table, a, b, sample)
    except (KeyError, TimeTravelError) as exc:
        raise click.ClickException(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from exc
    if as_json:
        click.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    out.print(
        f"[bold]{result.table}[/] {a} ({result.a_snapshot}) → {b} ({result.b_snapshot}): "
        f"+{result.added:,} added, -{result.removed:,} removed, ~{result.changed:,} changed"
    )
    if result.by_source:
        view = Table("source", "added", "removed", "changed", title="per source")
        for r in result.by_source:
            view.add_row(r["source"], f"{r['added']:,}", f"{r['removed']:,}", f"{r['changed']:,}")
        out.print(view)
    if result.left_because:
        view = Table("reason", "rows", title="why rows left (L1 verdicts)")
        for r in result.left_because:
            view.add_row(r["reason"], f"{r['rows']:,}")
        out.print(view)
    for change, rows in result.samples.items():
        for r in rows:
            out.print(f"  {change:<8} {next(iter(r.values()))}  {r['source']}  {r['uri']}")


@main.command()
@click.argument("table")
@click.argument("name")
@click.option("--at", "at", help="Snapshot id, tag, build-N or ISO time to pin (default: the current snapshot).")
@click.option("--force", is_flag=True, help="Move the tag if it already exists.")
@click.pass_context
def tag(ctx: click.Context, table: str, name: str, at: str | None, force: bool) -> None:
    """Pin a state of TABLE under NAME, usable as FOR VERSION AS OF 'NAME'."""
    from warehouse.diff import resolve_state
    from warehouse.timetravel import TimeTravelError

    catalog = open_catalog(_settings(ctx))
    try:
        tdef = resolve_name(table)
        target = catalog.load_table(tdef.name)
        snapshot_id = resolve_state(target, tdef.name, at) if at else target.metadata.current_snapshot_id
    except (KeyError, TimeTravelError) as exc:
        raise click.ClickException(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from exc
    if snapshot_id is None:
        raise click.ClickException(f"{tdef.name} has no snapshot yet to tag")
    existing = target.metadata.refs.get(name)
    if existing is not None and not force:
        raise click.ClickException(
            f"{tdef.name} already has {name!r} at snapshot {existing.snapshot_id}; use --force to move it"
        )
    if name in {"main", "audit"}:
        raise click.ClickException(f"{name!r} is a branch tierhouse manages; choose another tag name")
    manage = target.manage_snapshots()
    if existing is not None:
        manage = manage.remove_tag(name)
    manage.create_tag(snapshot_id, name).commit()
    out.print(f"tagged {tdef.name} snapshot {snapshot_id} as {name!r}")


@main.command("history")
@click.argument("table")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def history_cmd(ctx: click.Context, table: str, as_json: bool) -> None:
    """List TABLE's snapshots: id, time, operation, rows added/removed, tags."""
    from warehouse.history import history

    try:
        rows = history(open_catalog(_settings(ctx)), table)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from exc
    if as_json:
        click.echo(orjson.dumps([r.__dict__ for r in rows], option=orjson.OPT_INDENT_2).decode())
        return
    view = Table(
        Column("snapshot_id", no_wrap=True, min_width=19),
        Column("committed_at (UTC)", no_wrap=True),
        "operation",
        "added",
        "removed",
        "total",
        "tags",
        Column("batch", no_wrap=True),
    )
    for r in rows:
        view.add_row(
            str(r.snapshot_id),
            r.committed_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.operation,
            f"{r.rows_added:,}",
            f"{r.rows_removed:,}",
            f"{r.total_rows:,}",
            ", ".join(r.tags + tuple(f"branch:{b}" for b in r.branches if b != "main")),
            r.properties.get("tierhouse.ingest_batch", ""),
        )
    out.print(view)
    if not rows:
        out.print(f"{table} has no snapshots yet")


def print_status(settings: Settings) -> None:
    """What each tier holds, per source, and what the quarantine holds, per reason."""
    con = connect(settings)
    view = Table("table", "source", "rows", "MB", title=f"lake at {settings.home}")
    for tdef in ALL_TABLES:
        if not tdef.name.startswith("tiers."):
            continue
        size = "content_bytes" if tdef.name == "tiers.l0_raw" else "0"
        rows = con.execute(f"SELECT source, count(*), sum({size}) FROM {tdef.name} GROUP BY 1 ORDER BY 1").fetchall()
        if not rows:
            view.add_row(tdef.name, "-", "0", "")
        for source, count, size_bytes in rows:
            view.add_row(tdef.name, source, f"{count:,}", f"{(size_bytes or 0) / 1e6:,.1f}" if size_bytes else "")
    for reason, count in con.execute("SELECT reason, count(*) FROM ops.quarantine GROUP BY 1 ORDER BY 1").fetchall():
        view.add_row("ops.quarantine", reason, f"{count:,}", "")
    out.print(view)


@main.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Print what each tier holds, per source."""
    print_status(_settings(ctx))


def tier_results(record: dict) -> dict[str, dict]:
    """The per-model entries of a build record (its data tests are kept apart)."""
    return {name: m for name, m in record["models"].items() if name != "dbt_tests"}


def _gate_summary(m: dict) -> str:
    """'11 passed, 1 failed' over the suite and the distribution checks, and what drift compared with."""
    checks = [c for c in m.get("gate") or [] if c.get("judged", True)]
    drift = (m.get("drift") or {}).get("checks", [])
    judged = [d for d in drift if d["verdict"] != "not_judged"]
    if not checks and not drift and not m.get("drift"):
        return "-"
    failed = sum(not c["success"] for c in checks) + sum(d["verdict"] == "failed" for d in judged)
    accepted = sum(d["verdict"] == "accepted" for d in judged)
    parts = [f"[red]{failed} failed[/]" if failed else f"{len(checks) + len(judged) - accepted} passed"]
    parts += [f"[yellow]{accepted} accepted[/]"] if accepted else []
    compared = (m.get("drift") or {}).get("compared_with", "")
    parts += ["first build: nothing to compare"] if compared.startswith("first build") else []
    return ", ".join(parts)


def _written(m: dict) -> str:
    """Bytes the build wrote to a tier, and their share of the tier's bytes."""
    written, total = m.get("bytes_written", 0), m.get("table_bytes", 0)
    if not written:
        return "0"
    return f"{written / 1e6:,.1f} MB ({written / total:.0%})" if total else f"{written / 1e6:,.1f} MB"


def print_build(record: dict | None) -> None:
    """Per tier: what the build did, rows entered and left, and the gate's verdict."""
    if record is None:
        out.print("no build was recorded")
        return
    view = Table(
        "tier", "result", "rows", "entered", "left", "written", "gate", "snapshot",
        title=f"build {record['build_id']}: {record['status']}",
    )  # fmt: skip
    tests = record["models"].get("dbt_tests", {})
    for name, m in sorted(tier_results(record).items()):
        view.add_row(
            name,
            m.get("status") or m.get("dbt_status", "?"),
            f"{m.get('total_rows', 0):,}",
            f"+{m.get('rows_added', 0):,}",
            f"-{m.get('rows_removed', 0):,}",
            _written(m),
            _gate_summary(m),
            str(m.get("snapshot_id") or ""),
        )
        for c in m.get("gate") or []:
            if not c["success"]:
                failed = f"[red]{c['expectation']}({c['column']})[/]"
                view.add_row("", failed, "", "", "", "", c["observed"], c["threshold"])
        for d in (m.get("drift") or {}).get("checks", []):
            if d["verdict"] in ("failed", "accepted"):
                shown = f"{d['observed']:.3f} (was {d['previous']:.3f})"
                view.add_row("", f"[red]{d['metric']}[/] {d['source']}", "", "", "", "", f"{d['verdict']}: {shown}",
                             d["allowed"])  # fmt: skip
        for r in (m.get("operators") or {}).get("retrained", []):
            view.add_row("", f"[yellow]retrained {r['scorer']}[/]: {r['rescored']:,} texts rescored on purpose",
                         *[""] * 6)  # fmt: skip
        if m.get("failed_rows"):
            view.add_row("", f"{m['failed_rows']:,} rows failed a row check: ops.gate_failures", *[""] * 6)
    out.print(view)
    if tests:
        passed = sum(1 for status in tests.values() if status == "pass")
        out.print(f"dbt data tests: {passed} of {len(tests)} passed")


@main.command()
@click.option("--select", "-s", multiple=True, help="dbt node selection, e.g. -s l1_clean+ (repeatable).")
@click.option("--vars", "variables", help="dbt vars as YAML, e.g. '{l1_min_chars: 500}'.")
@click.option("--full-refresh", is_flag=True, help="Recompute every model even if its inputs are unchanged.")
@click.option(
    "--project-dir", type=click.Path(file_okay=False, path_type=Path), help="dbt project (default: ./dbt_project)."
)
@click.option(
    "--accept-drift", "accept", multiple=True, metavar="TIER",
    help="Publish TIER despite failed distribution checks (a deliberate change; repeatable). Needs --reason.",
)  # fmt: skip
@click.option("--reason", help="Why the drift is accepted; recorded in ops.builds with who accepted which checks.")
@click.option("--no-wait", is_flag=True, help="Fail at once if another build is running, instead of waiting.")
@click.option(
    "--engine", type=click.Choice(["local", "ray"]),
    help="Where L1's per-document operators run: in this process (local, the default) or as a Ray Data job (ray).",
)  # fmt: skip
@click.option(
    "--ray-address", help="With --engine ray: the Ray cluster to join (auto, ray://host:10001); default: a local one."
)
@click.option(
    "--report/--no-report", "write", default=None,
    help="Write the build's HTML report to <lake>/reports/build-N.html (default: on unless $TIERHOUSE_REPORT=0).",
)  # fmt: skip
@click.pass_context
def build(
    ctx: click.Context,
    select: tuple[str, ...],
    variables: str | None,
    full_refresh: bool,
    project_dir: Path | None,
    no_wait: bool,
    accept: tuple[str, ...],
    reason: str | None,
    engine: str | None,
    ray_address: str | None,
    write: bool | None,
) -> None:
    """Run `dbt build` over the lake: every tier written, gated and published; the build is recorded.

    Builds run one at a time: a second build waits for the first (saying which), and a build killed
    while running holds the lock only until its lease ($TIERHOUSE_BUILD_LEASE_S, 60 s) expires.
    """
    import getpass

    from warehouse.build import run_build, with_accepted_drift, with_engine
    from warehouse.buildlock import BuildLockBusy

    try:
        variables = with_engine(
            with_accepted_drift(variables, list(accept), reason, getpass.getuser()), engine, ray_address
        )
    except (ValueError, KeyError) as exc:
        raise click.UsageError(str(exc).strip("'\"")) from exc
    try:
        outcome = run_build(
            _settings(ctx),
            select=list(select),
            variables=variables,
            full_refresh=full_refresh,
            project_dir=project_dir,
            wait=not no_wait,
        )
    except BuildLockBusy as exc:
        raise click.ClickException(str(exc)) from exc
    print_build(outcome.record)
    _build_report(_settings(ctx), outcome.record, write)
    if not outcome.success:
        ctx.exit(1)


def _build_report(settings: Settings, record: dict | None, write: bool | None = None) -> None:
    """Write and name the report of the build just run, unless turned off (flag, else $TIERHOUSE_REPORT)."""
    from warehouse.report import report_enabled, write_report

    if record is None or not (report_enabled() if write is None else write):
        return
    try:
        path = write_report(settings, settings.home / "reports", build_id=record["build_id"])
    except Exception as exc:  # the build itself is done and recorded: a page that cannot be written is said
        err.print(f"report not written ({type(exc).__name__}: {exc}); retry with `tierhouse report --out DIR`")
        return
    click.echo(f"report: {path}")


@main.command()
@click.option("--build", "build_id", type=int, help="Build to report on (default: the newest).")
@click.option("--against", type=int, help="Build to diff against (default: the one before it).")
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
    help="Folder to write build-N.html into (created if missing).",
)  # fmt: skip
@click.pass_context
def report(ctx: click.Context, build_id: int | None, against: int | None, out_dir: Path) -> None:
    """Write one self-contained HTML page about a build: tier funnel, rejections, scores, edits, QA verdicts,
    gates, diff and cost, each table beside the time-travel SQL that reproduces it. No server, no network."""
    from warehouse.report import write_report
    from warehouse.report.pins import ReportError

    try:
        path = write_report(_settings(ctx), out_dir, build_id=build_id, against=against)
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"report: {path}")


@main.command()
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def builds(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List recorded builds, newest first: status, duration, and each tier's change."""
    from warehouse.builds import list_builds

    rows = list_builds(open_catalog(_settings(ctx)))[:limit]
    if as_json:
        click.echo(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2).decode())
        return
    view = Table("build", "started (UTC)", "seconds", "status", "tiers (rows, +entered/-left)", "git")
    for r in rows:
        tiers = "; ".join(
            f"{name} {m.get('total_rows', 0):,} +{m.get('rows_added', 0):,}/-{m.get('rows_removed', 0):,}"
            + (
                ""
                if m.get("status") in {"published", "unchanged", "skipped_unchanged_inputs"}
                else f" [{m.get('status') or m.get('dbt_status')}]"
            )
            for name, m in sorted(tier_results(r).items())
        )
        seconds = (r["ended_at"] - r["started_at"]).total_seconds() if r["ended_at"] else 0
        view.add_row(
            str(r["build_id"]),
            f"{r['started_at']:%Y-%m-%d %H:%M:%S}",
            f"{seconds:.1f}",
            r["status"],
            tiers,
            (r["git_rev"] or "")[:12],
        )
    out.print(view)


@main.command("maintain")
@click.option("--keep-builds", default=10, show_default=True, help="Keep the tags of this many latest builds.")
@click.option("--grace-minutes", default=60.0, show_default=True, help="Never delete files younger than this.")
@click.option("--dry-run", is_flag=True, help="Print what would go, and how many bytes, without changing anything.")
@click.option("--compact/--no-compact", default=True, show_default=True,
              help="Pack a table's data files under 32 MB into fewer files when enough can be packed; a file a "
                   "kept tag still reads waits until that tag expires.")  # fmt: skip
@click.option("--compact-min-files", type=click.IntRange(2), default=4, show_default=True,
              help="Compact a table only when this many of its small files can be packed.")  # fmt: skip
@click.option("--compact-share", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Rewrite at most this share of a table's data bytes, smallest files first.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def maintain_cmd(
    ctx: click.Context,
    keep_builds: int,
    grace_minutes: float,
    dry_run: bool,
    compact: bool,
    compact_min_files: int,
    compact_share: float,
    as_json: bool,
) -> None:
    """Expire snapshots no one needs and delete the files only they used.

    
    Kept: hand tags, builds any export used, the last --keep-builds builds, branch heads, and the
    input snapshots the next incremental build reads (or their compactions, which stand in for them).
    Runs under the build lock (builds wait).
    """
    from dataclasses import asdict

    from warehouse.maintenance.run import maintain

    options = {"compact_share": compact_share, "compact_min_files": compact_min_files if compact else sys.maxsize}
    report = maintain(open_catalog(_settings(ctx)), keep_builds=keep_builds, grace_s=grace_minutes * 60,
                      dry_run=dry_run, **options)  # fmt: skip
    if as_json:
        click.echo(orjson.dumps({"dry_run": dry_run, "tables": [asdict(t) for t in report.tables]},
                                option=orjson.OPT_INDENT_2).decode())  # fmt: skip
        return
    verb = "would remove" if dry_run else "removed"
    view = Table("table", "snapshots kept", "expired", "build tags dropped", "files", "MB", "MB before",
                 title=f"maintain ({verb})")  # fmt: skip
    for t in report.tables:
        if t.snapshots_expired or t.files_removed:
            counts = (t.snapshots_kept, t.snapshots_expired, len(t.tags_dropped), t.files_removed)
            view.add_row(t.table, *map(str, counts), f"{t.bytes_removed / 1e6:,.1f}", f"{t.bytes_before / 1e6:,.1f}")
    out.print(view)
    out.print(f"{verb} {report.bytes_removed / 1e6:,.1f} MB of {report.bytes_before / 1e6:,.1f} MB")
    for t in report.tables:
        if t.compaction:
            c = t.compaction
            out.print(f"compacted {c.table}: {c.files_before} data files -> {c.files_after}, "
                      f"{c.bytes_rewritten / 1e6:,.1f} MB of small files rewritten (same rows)")  # fmt: skip
    recent = sum(t.files_too_recent for t in report.tables)
    if recent:
        out.print(f"{recent} unreferenced file(s) younger than {grace_minutes:g} minutes were left for a later run")


@main.group()
def corpus() -> None:
    """The bundled real corpus, fetched from the Debian and npm registries."""


@corpus.command("list")
def corpus_list() -> None:
    """Show the sources and the packages they come from."""
    packages, sources = load_manifest()
    view = Table("source", "format", "packages", "description")
    for s in sources.values():
        view.add_row(s.name, s.format, "\n".join(packages[p].uri for p in s.packages), s.description)
    out.print(view)


def _ingest_corpus(settings: Settings, names: tuple[str, ...], progress: bool | None) -> list[IngestSummary]:
    try:
        prepared = prepare(settings.cache_dir, list(names) or None)
    except CorpusError as exc:
        raise click.ClickException(str(exc)) from exc
    summaries = []
    for item in prepared:
        s = item.source
        summaries.append(
            ingest(
                list(item.paths),
                s.name,
                settings=settings,
                fmt=s.format,
                id_field=s.id_field,
                pattern=s.pattern,
                uri_prefix=item.uri_prefix,
                show_progress=progress,
            )
        )
        print_summary(summaries[-1])
    return summaries


@corpus.command("fetch")
@click.argument("names", nargs=-1)
@click.pass_context
def corpus_fetch(ctx: click.Context, names: tuple[str, ...]) -> None:
    """Download, verify and unpack the packages of NAMES (default: every source) into the cache."""
    try:
        prepared = prepare(_settings(ctx).cache_dir, list(names) or None)
    except CorpusError as exc:
        raise click.ClickException(str(exc)) from exc
    for item in prepared:
        out.print(f"{item.source.name}: {', '.join(str(p) for p in item.paths)}")


@corpus.command("ingest")
@click.argument("names", nargs=-1)
@click.option("--progress/--no-progress", default=None)
@click.pass_context
def corpus_ingest(ctx: click.Context, names: tuple[str, ...], progress: bool | None) -> None:
    """Fetch NAMES (default: every source) and ingest them into tiers.l0_raw."""
    _ingest_corpus(_settings(ctx), names, progress)


@main.command()
@click.option("--progress/--no-progress", default=None)
@click.pass_context
def quickstart(ctx: click.Context, progress: bool | None) -> None:
    """The main job on the embedded lake: ingest the bundled real corpus, `dbt build` every tier, summarise."""
    from warehouse.build import run_build

    settings = _settings(ctx)
    init_warehouse(open_catalog(settings))
    _ingest_corpus(settings, (), progress)
    outcome = run_build(settings)  # dbt's own lines show each model's progress
    print_build(outcome.record)
    print_status(settings)
    _build_report(settings, outcome.record)
    if not outcome.success:
        ctx.exit(1)


for command in (*EXPORT_COMMANDS, *EVALUATE_COMMANDS):
    main.add_command(command)


if __name__ == "__main__":
    main()

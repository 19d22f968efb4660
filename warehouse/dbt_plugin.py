"""The dbt-duckdb plugin: tier tables as DuckDB views, ``th_*`` UDFs, and write-audit-publish on store.

``profiles.yml`` names it (``module: warehouse.dbt_plugin``, alias ``tierhouse``). The
``iceberg`` materialization stages a model's result in DuckDB and hands it here through
``adapter.store_relation``; the ``on-run-end`` hook hands over dbt's statuses to close the build.
"""

from __future__ import annotations

import os
from dataclasses import asdict, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import TargetConfig
from dbt_common.exceptions import DbtRuntimeError
from duckdb import DuckDBPyConnection

from expectations.gate import GateFailed
from udfs.dedup import MinHashConfig
from udfs.registry import register as register_udfs
from udfs.registry import versions_digest
from warehouse.buildlock import BuildLock, build_waits, lease_seconds
from warehouse.builds import Build, build_tag, git_revision, next_build_id
from warehouse.catalog import catalog_kwargs, open_catalog
from warehouse.config import load_settings
from warehouse.duck import load_extensions
from warehouse.engine.job import JobStats, Pool
from warehouse.export.ledger import record_build_costs
from warehouse.fingerprint import inputs_seen, is_current
from warehouse.fuzzy import Signer, deduplicate, mark_near_duplicates, sign_new
from warehouse.maintenance.compaction import holder
from warehouse.memory.ceiling import check as check_rss_ceiling
from warehouse.memory.ceiling import rss_ceiling
from warehouse.memory.limits import bound
from warehouse.memory.steps import FINISHED_STEPS, StepOutOfMemory, step
from warehouse.publish import publish, scan_sql, skip_unchanged
from warehouse.query import register_table, register_tables
from warehouse.tables import MEASURES, SCORES, TableDef, init_warehouse, resolve_name
from warehouse.timetravel import prepare

#: The build the current dbt invocation belongs to, readable by ``tierhouse build`` in-process.
CURRENT_BUILD: Build | None = None


def with_operators(code: str) -> str:
    """A model's code hash with every operator's version: a bumped operator makes no model skip."""
    return f"{code}+operators:{versions_digest()}"


def _pool(engine: dict[str, Any]) -> Pool:
    """The Ray actor pool the dbt vars ``ray_chunk_rows``, ``ray_actors`` and ``ray_actor_cpus`` describe."""
    return Pool(int(engine["chunk_rows"]), int(engine["actors"]), float(engine["actor_cpus"]))


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        # the environment wins over the profile, read here rather than by env_var() in profiles.yml:
        # dbt parses the whole project again whenever its profile renders differently
        self.settings = load_settings(os.environ.get("TIERHOUSE_HOME") or plugin_config.get("home"))
        self.catalog = open_catalog(self.settings)
        init_warehouse(self.catalog)
        project = os.environ.get("TIERHOUSE_DBT_PROJECT") or plugin_config.get("project_dir") or "."
        self.project_dir = Path(project).resolve()
        self.conn: DuckDBPyConnection | None = None
        self.lock: BuildLock | None = None  # held from on-run-start to on-run-end
        self.operators: dict[str, dict[str, Any]] = {}  # per table, until its publish records them
        # read once, so a ceiling it cannot read fails here rather than in an operator mid-build
        self.check_memory = partial(check_rss_ceiling, rss_ceiling())

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        bound(conn, self.settings.memory_limit, self.settings.duckdb_threads)
        load_extensions(conn)
        register_tables(conn, self.catalog)
        register_udfs(conn, before_batch=self.check_memory)
        conn.create_function(
            "tierhouse_time_travel",
            lambda sql: prepare(sql, self.catalog, read_only=False),
            ["VARCHAR"],
            "VARCHAR",
            side_effects=True,
        )
        conn.create_function(
            "tierhouse_unchanged",
            lambda table, inputs, code: is_current(self.catalog, table, inputs.split(","), with_operators(code)),
            ["VARCHAR", "VARCHAR", "VARCHAR"],
            "BOOLEAN",
            side_effects=True,
        )
        self.conn = conn

    def _build(self, variables: dict[str, Any]) -> Build:
        global CURRENT_BUILD
        if CURRENT_BUILD is None:
            allocated = self.lock.build_id if self.lock else next_build_id(self.catalog)
            build_id = int(variables.get("build_id") or allocated)
            CURRENT_BUILD = Build(build_id, datetime.now(UTC), variables, git_revision(self.project_dir))
        return CURRENT_BUILD

    def store(self, target_config: TargetConfig) -> None:
        config = target_config.config
        if target_config.location.format == "tierhouse-build-start":
            self._start(config)
            return
        if target_config.location.format == "tierhouse-build-end":
            self._finish(config)
            return
        if target_config.location.format == "tierhouse-engine":
            self._run_engine(target_config.location.path, dict(config))
            return
        build = self._build(dict(config["vars"]))
        tdef = resolve_name(target_config.location.path)
        tag = build_tag(build.build_id)
        if target_config.location.format == "tierhouse-prepare":
            self._register_previous(tdef.name, list(config["inputs"]), config["code"])
            return
        if target_config.location.format == "tierhouse-skip":
            build.record(skip_unchanged(self.catalog, tdef, tag))
            return
        try:
            self._run_step(target_config, tdef, build, tag)
        except StepOutOfMemory as exc:
            raise DbtRuntimeError(str(exc)) from exc

    def _run_step(self, target_config: TargetConfig, tdef: TableDef, build: Build, tag: str) -> None:
        """Stage the model's result, mark its near-duplicates, or write-audit-publish it."""
        config, relation, limit = target_config.config, str(target_config.relation), self.settings.memory_limit
        if target_config.location.format == "tierhouse-stage":
            with step(tdef.name, "staging (the model's SQL)", limit):
                self._stage(relation, config["sql"])
            return
        if target_config.location.format == "tierhouse-fuzzy-dedup":
            with step(tdef.name, "near-duplicate marking", limit):
                self._fuzzy_dedup(relation, tdef.name, config)
            return
        cursor = self.conn.cursor()
        try:
            if tdef.name == SCORES.name:
                self._note_retrained(cursor, relation)
            result = publish(
                cursor,
                self.catalog,
                tdef,
                relation,
                strategy=config.get("strategy", "incremental"),
                tag=tag,
                gate=dict(config["gate"]),
                inputs=list(config["inputs"]),
                code=with_operators(config["code"]),
            )
        except GateFailed as failed:
            failed.result.operators = self.operators.pop(tdef.name, {})
            failed.result.steps = FINISHED_STEPS.pop(tdef.name, [])
            build.record(failed.result)
            raise DbtRuntimeError(str(failed)) from failed
        finally:
            cursor.close()
        result.operators = self.operators.pop(tdef.name, {})
        result.steps = FINISHED_STEPS.pop(tdef.name, [])
        build.record(result)
        register_table(self.conn, self.catalog, tdef)

    def _stage(self, relation: str, sql: str) -> None:
        """Run the model's SQL into its staging table here, not in dbt, so running out of memory names the step."""
        cursor = self.conn.cursor()
        try:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {relation.rsplit('.', 1)[0]}")
            cursor.execute(f"CREATE OR REPLACE TABLE {relation} AS (\n{sql}\n)")
        finally:
            cursor.close()

    def _fuzzy_dedup(self, staging: str, target: str, settings: dict[str, Any]) -> None:
        """Mark the staged rows' near-duplicates (warehouse/fuzzy.py): documents no other rule
        rejected are clustered, and all but each cluster's earliest ingested are rejected. A row the
        table holds with the same text keeps its published verdict while the model's code, vars and
        operators are those that published it (``--full-refresh`` re-decides every row). With var
        ``engine: ray`` the new texts are signed on Ray (warehouse/engine/minhash.py)."""
        config = MinHashConfig(**dict(settings["fuzzy_dedup"]))
        engine = settings.get("engine")
        cursor = self.conn.cursor()
        relation = "tierhouse_staging.fuzzy_input"
        signer = self._ray_signer(cursor, dict(engine)) if engine else partial(sign_new, texts=staging)
        table = self.catalog.load_table(target)
        keeps_verdicts = inputs_seen(table, with_operators(settings["code"])) and not settings.get("full_refresh")
        stored = f"(SELECT doc_id, content_hash, near_dup_cluster FROM {scan_sql(table)})" if keeps_verdicts else None
        try:
            cursor.execute(
                f"""CREATE OR REPLACE VIEW {relation} AS
                SELECT s.doc_id, s.content_hash, s.text, l0.ingested_at, s.kept AS eligible
                FROM {staging} s JOIN tiers.l0_raw l0 USING (doc_id)"""
            )
            _, stats = deduplicate(
                cursor, self.catalog, relation, config,
                apply=lambda found: mark_near_duplicates(cursor, staging, found, stored), sign=signer,
            )  # fmt: skip
            cursor.execute(f"DROP VIEW {relation}")
        finally:
            cursor.close()
        operators = self.operators.setdefault(target, {})
        operators["fuzzy_dedup"] = {"config": config.key, "threshold": config.threshold, **asdict(stats)}
        if engine:
            operators["ray_minhash"] = signer.stats.summary()

    def _ray_signer(self, cursor: DuckDBPyConnection, engine: dict[str, Any]) -> Signer:
        """Ray's MinHash signer, for the extractor version L1's model compares against."""
        from warehouse.engine.job import connect
        from warehouse.engine.minhash import RaySigner
        from warehouse.engine.plan import resolve

        spec = dict(engine["plan"])
        extractor = resolve(cursor, spec["extractor"], spec["rules"], spec["rules_key"]).extractor
        connect(engine["address"])
        return RaySigner(catalog_kwargs(self.settings), extractor, _pool(engine))

    def _run_engine(self, target: str, engine: dict[str, Any]) -> None:
        """With var ``engine: ray``: compute what the model will join as Ray Data jobs (warehouse/engine),
        committing to ops.measures, before the model's SQL runs. The build lock is held throughout."""
        from warehouse.engine.job import connect

        spec = dict(engine["plan"])
        cursor = self.conn.cursor()
        try:
            connect(engine["address"])
            if spec.get("kind") == "scores":
                stats = self._ray_scores(cursor, spec, _pool(engine))
            elif spec.get("kind") == "calls":
                stats = self._ray_calls(cursor, spec, _pool(engine))
            else:
                stats = self._ray_l1(cursor, spec, engine, _pool(engine))
        finally:
            cursor.close()
        register_table(self.conn, self.catalog, MEASURES)
        self.operators.setdefault(resolve_name(target).name, {})["ray"] = stats.summary()

    def _ray_l1(self, cursor: DuckDBPyConnection, spec: dict[str, Any], engine: dict[str, Any], pool: Pool) -> JobStats:
        """L1's extraction, language ID and rules (warehouse/engine/l1.py)."""
        from warehouse.engine.l1 import run_l1
        from warehouse.engine.plan import resolve

        plan = replace(
            resolve(cursor, spec["extractor"], spec["rules"], spec["rules_key"]),
            full_refresh=bool(engine["full_refresh"]),
        )
        return run_l1(cursor, self.catalog, catalog_kwargs(self.settings), plan, pool)

    def _ray_scores(self, cursor: DuckDBPyConnection, spec: dict[str, Any], pool: Pool) -> JobStats:
        """ops.scores' judges, then its distilled classifiers (warehouse/engine/scores.py)."""
        from warehouse.engine.scores import RayScoring, ScoresPlan

        plan = ScoresPlan(spec["ctes"], list(spec["scorers"]))
        return RayScoring(cursor, self.catalog, catalog_kwargs(self.settings), plan, pool).run()

    def _ray_calls(self, cursor: DuckDBPyConnection, spec: dict[str, Any], pool: Pool) -> JobStats:
        """ops.edits' editor, or ops.qa's generator then verifier (warehouse/engine/calls.py)."""
        from warehouse.engine.calls import Call, CallsPlan, run_calls

        plan = CallsPlan(spec["ctes"], [Call(c["operator"], c["query"]) for c in spec["calls"]])
        return run_calls(cursor, self.catalog, catalog_kwargs(self.settings), plan, pool)

    def _note_retrained(self, cursor: DuckDBPyConnection, staging: str) -> None:
        """Record which distilled classifiers this build replaced, and how many scores that moved.

        A retrained classifier rescores every text it scores, on purpose: the build record says
        so, which is why such a build writes far more of ops.scores and L2 than its change in rows.
        """
        table = self.catalog.load_table(SCORES.name)
        if table.metadata.current_snapshot_id is None:
            return
        main = scan_sql(table)
        replaced = cursor.execute(
            f"""WITH old AS (SELECT scorer, prompt_version, any_value(model) AS model, count(*) AS scores
                             FROM {main} WHERE scorer LIKE '%-distilled' GROUP BY ALL),
                     new AS (SELECT scorer, prompt_version, any_value(model) AS model, count(*) AS scores
                             FROM {staging} WHERE scorer LIKE '%-distilled' GROUP BY ALL)
                SELECT new.scorer, new.prompt_version, old.model, new.model, new.scores
                FROM new JOIN old USING (scorer, prompt_version) WHERE old.model <> new.model
                ORDER BY ALL"""
        ).fetchall()
        if replaced:
            self.operators[SCORES.name] = {
                "retrained": [
                    {"scorer": scorer, "prompt_version": version, "from": old, "to": new, "rescored": n}
                    for scorer, version, old, new, n in replaced
                ]
            }

    def _register_previous(self, target: str, inputs: list[str], code: str) -> None:
        """Views ``tierhouse_prev.<input>``: each input as the model last consumed it (empty if never,
        or if the model's code changed since), so models can read only what changed."""
        seen = inputs_seen(self.catalog.load_table(target), with_operators(code))
        self.conn.execute("CREATE SCHEMA IF NOT EXISTS tierhouse_prev")
        for name in inputs:
            table = self.catalog.load_table(name)
            snapshot = seen.get(name)
            snapshot = holder(table, snapshot) if snapshot is not None else None  # maintain may have compacted it
            scan = scan_sql(table, snapshot) if snapshot is not None else f"{scan_sql(table)} WHERE false"
            self.conn.execute(f"CREATE OR REPLACE VIEW tierhouse_prev.{name.split('.')[-1]} AS SELECT * FROM {scan}")

    def _start(self, config: dict[str, Any]) -> None:
        global CURRENT_BUILD
        CURRENT_BUILD = None  # a build that died before its end hook must not swallow this one
        FINISHED_STEPS.clear()  # nor the step peaks of a model it never recorded
        self._release()
        # one build at a time: wait for (or, with TIERHOUSE_BUILD_WAIT=0, refuse to run beside) another
        self.lock = BuildLock(self.catalog, wait=build_waits(), lease_s=lease_seconds())
        self.lock.__enter__()
        register_tables(self.conn, self.catalog)  # ingests and builds since the connection opened are seen
        self._build(dict(config["vars"]))

    def _finish(self, config: dict[str, Any]) -> None:
        global CURRENT_BUILD
        try:
            build = self._build(dict(config["vars"]))
            build.finish(self.catalog, dict(config["statuses"]))
            cursor = self.conn.cursor()
            try:
                record_build_costs(cursor, self.catalog, build)
            finally:
                cursor.close()
        finally:
            CURRENT_BUILD = None
            self._release()

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.__exit__(None, None, None)
            self.lock = None

"""What every Ray job of the engine shares: joining Ray, the data files actors write, the driver's commits.

An actor writes each batch's results as one Parquet data file of the target table and hands back only
its path; the driver commits each file as one chunk (pyiceberg ``add_files`` through
``commit_with_retry``, never Ray's ``write_iceberg``, which commits straight to main). A killed job
loses only uncommitted chunks, and each job works out its to-do list from what is committed.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog, load_catalog

from warehouse.catalog import commit_with_retry
from warehouse.progress import progress_bar
from warehouse.tables import TableDef

CHUNK_ROWS = 5_000  # documents per batch, data file and commit
ACTORS = 2  # actors per operator pool: each loads its models once
#: CPUs Ray reserves per actor. The reads need CPUs too: with a whole CPU per actor, two actors on two
#: cores leave none, and the job waits for ever (seen here on Ray 2.60)
ACTOR_CPUS = 0.5

MANIFEST = pa.schema([("path", pa.string()), ("rows", pa.int64()), ("inputs", pa.int64()), ("worker", pa.string())])


@dataclass(frozen=True)
class Pool:
    """How a job's batches are cut and run: rows per batch (and commit), actors, CPUs Ray reserves per actor."""

    chunk_rows: int = CHUNK_ROWS
    actors: int = ACTORS
    actor_cpus: float = ACTOR_CPUS


DEFAULT_POOL = Pool()


@dataclass
class JobStats:
    """What one run did: inputs done per kind (documents measured, texts judged again, signed, scored by a
    judge or by a distilled classifier, sent to an editor, a generator or a verifier), chunks committed,
    actors that worked (:func:`worker_name`) and on how many nodes."""

    measured: int = 0
    rejudged: int = 0
    signed: int = 0
    judged: int = 0
    classified: int = 0
    generated: int = 0
    chunks: int = 0
    workers: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        done = {k: getattr(self, k) for k in ("measured", "rejudged", "signed", "judged", "classified", "generated")}
        nodes = len({node_of(w) for w in self.workers})
        return {**done, "chunks": self.chunks, "workers": len(self.workers), "nodes": nodes,
                "seconds": round(self.seconds, 2)}  # fmt: skip


@dataclass(frozen=True)
class Job:
    """One Ray Data pass: ``dataset`` through a pool of ``actor`` built with ``kwargs``; ``counter`` names
    the JobStats field its inputs add to. ``batch_rows`` overrides the pool's rows per batch, and then each
    actor takes one batch at a time: slow calls (an LLM's) spread over every actor instead of queueing
    at the first."""

    dataset: Any  # ray.data.Dataset
    actor: type
    kwargs: dict[str, Any]
    counter: str
    batch_rows: int | None = None


def connect(address: str | None) -> None:
    """Join the Ray instance at ``address`` (``auto``, ``ray://…``), or start a local one; once per process."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False  # ours is on stderr, like every step's


def only_todo(batch: pa.Table, column: str, todo: pa.Array) -> pa.Table:
    """The rows of ``batch`` whose ``column`` is in ``todo``: what a resumed job has left to do."""
    return batch.filter(pc.is_in(batch.column(column), value_set=todo))


def worker_name() -> str:
    """``host:pid@node`` of the calling Ray worker: the node (the start of Ray's node id) tells the nodes of
    a cluster apart even where they share a host name."""
    import ray

    return f"{socket.gethostname()}:{os.getpid()}@{ray.get_runtime_context().get_node_id()[:12]}"


def node_of(worker: str) -> str:
    """The node part of a :func:`worker_name`."""
    return worker.rpartition("@")[2]


class ChunkWriter:
    """Base of the engine's actors: opens the target table once, writes each batch's results as one file."""

    def __init__(self, catalog_kwargs: dict[str, str], target: TableDef) -> None:
        kwargs = dict(catalog_kwargs)
        self.table = load_catalog(kwargs.pop("name"), **kwargs).load_table(target.name)
        self.schema = target.schema
        self.worker = worker_name()

    def chunk(self, rows: pa.Table, inputs: int) -> pa.Table:
        """Write ``rows`` (none: no file) and say what the driver commits: path, rows, inputs done, worker."""
        path = None
        if rows.num_rows:
            path = f"{self.table.location()}/data/ray-{uuid.uuid4().hex}.parquet"
            with self.table.io.new_output(path).create(overwrite=False) as out:
                pq.write_table(rows.cast(self.schema), out)
        return pa.table(
            {"path": [path], "rows": [rows.num_rows], "inputs": [inputs], "worker": [self.worker]}, schema=MANIFEST
        )


def run_jobs(
    catalog: Catalog,
    target: TableDef,
    jobs: list[Job],
    total: int,
    pool: Pool,
    *,
    label: str,
    on_chunk: Callable[[JobStats], None] | None = None,
    stats: JobStats | None = None,
) -> JobStats:
    """Run each job on its actor pool and commit every file it writes to ``target`` as it arrives.

    ``on_chunk`` runs after each committed chunk (the tests kill the job there); ``stats`` goes on
    counting what an earlier run of the same step did."""
    from ray.data import ActorPoolStrategy

    started, stats = time.perf_counter(), stats or JobStats()
    workers = set(stats.workers)
    with progress_bar(label, total, unit="inputs") as advance:
        for job in jobs:
            actors = ActorPoolStrategy(size=pool.actors, max_tasks_in_flight_per_actor=1 if job.batch_rows else None)
            results = job.dataset.map_batches(
                job.actor, fn_constructor_kwargs=job.kwargs, batch_size=job.batch_rows or pool.chunk_rows,
                batch_format="pyarrow", num_cpus=pool.actor_cpus, compute=actors,
            )  # fmt: skip
            for manifest in results.iter_batches(batch_size=None, batch_format="pyarrow"):
                for chunk in manifest.to_pylist():
                    if not chunk["inputs"]:  # a batch the todo filter emptied
                        continue
                    if chunk["path"]:
                        path = chunk["path"]
                        commit_with_retry(lambda p=path: catalog.load_table(target.name).add_files([p]))
                    setattr(stats, job.counter, getattr(stats, job.counter) + chunk["inputs"])
                    stats.chunks += 1
                    workers.add(chunk["worker"])
                    stats.workers = sorted(workers)
                    advance(chunk["inputs"])
                    if on_chunk is not None:
                        on_chunk(stats)
    stats.seconds += time.perf_counter() - started
    return stats

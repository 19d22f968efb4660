"""The Ray Data engine (dbt var engine: ray) on a Ray cluster of two nodes over real Iceberg tables.

One cluster serves the module: a head and a worker node on this machine, each its own raylet and object
store, reached by address as a remote cluster is; the lake holds real handbook pages.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import ray
from click.testing import CliRunner
from conftest import query
from pyiceberg.expressions import AlwaysTrue, EqualTo
from scripted_llm import ScriptedLLM

from udfs.dedup import MinHashConfig, MinHasher
from warehouse.build import run_build
from warehouse.catalog import catalog_kwargs, open_catalog
from warehouse.cli import main
from warehouse.config import load_settings
from warehouse.engine.job import Pool
from warehouse.engine.l1 import run_l1
from warehouse.engine.minhash import RaySigner
from warehouse.engine.plan import default_plan
from warehouse.fuzzy import deduplicate, sign_new, signature_table
from warehouse.ingest import ingest
from warehouse.query import connect

RAY_VARS = "{engine: ray, ray_chunk_rows: 40}"
KILL_AFTER = 2  # chunks the killed job commits before it dies
CHUNK = 20


@pytest.fixture(scope="module")
def ray_instance():
    """Two nodes of two logical CPUs (an actor's half and a read task's whole one fit on either); its address."""
    from ray.cluster_utils import Cluster

    node = {"num_cpus": 2, "object_store_memory": 300 * 2**20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    cluster.add_node(**node)
    ray.init(address=cluster.address, log_to_driver=False)
    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    yield cluster.address
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def lake(tmp_path_factory, handbook_root, ray_instance):
    """English and German handbook pages (311 files), built once in process: L1 as the default engine makes it."""
    home = tmp_path_factory.mktemp("ray") / "lake"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIERHOUSE_HOME", str(home))
        settings = load_settings()
        for language in ("en-US", "de-DE"):
            ingest([handbook_root / language], "debian_handbook", settings=settings)
        assert run_build(settings, select=["l1_clean"], quiet=True).success
        yield settings


def _rows(settings) -> dict[str, int]:
    """L1 by key, each row's hash over every column."""
    return dict(query(settings, "SELECT doc_id, hash(l) FROM tiers.l1_clean l"))


def _extractions(settings) -> tuple[int, int]:
    return query(
        settings, "SELECT count(*), count(DISTINCT input_hash) FROM ops.measures WHERE operator = 'l1_extract'"
    )[0]


SIGNATURES = "SELECT content_hash, signature, bands FROM ops.minhash WHERE config = $1"
EDGES = "SELECT a, b, similarity FROM ops.minhash_edges WHERE config = $1"


def _minhash(settings, config: MinHashConfig | None = None) -> tuple[set, set]:
    """The lake's MinHash signatures and candidate pairs under ``config`` (the default configuration)."""
    key = [(config or MinHashConfig()).key]
    signatures = {(h, signature, tuple(bands)) for h, signature, bands in query(settings, SIGNATURES, key)}
    return signatures, set(query(settings, EDGES, key))


def test_ray_l1_rows_equal_the_in_process_rows(lake):
    in_process = _rows(lake)
    # the in-process build's signatures and pairs; removed, so the Ray build must sign every text again
    signatures, edges = _minhash(lake)
    catalog = open_catalog(lake)
    for table in ("ops.minhash", "ops.minhash_edges", "ops.minhash_paired"):
        catalog.load_table(table).delete(EqualTo("config", MinHashConfig().key))
    assert _minhash(lake) == (set(), set())

    outcome = run_build(lake, select=["l1_clean"], variables=RAY_VARS, full_refresh=True, quiet=True)
    assert outcome.success
    model = outcome.record["models"]["l1_clean"]
    # MinHash signing ran on Ray: the same signatures, the same pairs, the same clusters. (Its few quick
    # batches may all go to the actor that started first: one run here saw both take some, one saw one.)
    fuzzy, ray_minhash = model["operators"]["fuzzy_dedup"], model["operators"]["ray_minhash"]
    assert ray_minhash["signed"] == fuzzy["signed"] == len(signatures) > 100 and ray_minhash["chunks"] >= 4
    assert _minhash(lake) == (signatures, edges)
    assert fuzzy["near_duplicates"] > 0
    ray_stats = model["operators"]["ray"]
    documents = len(in_process)
    assert documents > 250 and ray_stats["measured"] == documents
    assert ray_stats["workers"] >= 2 and ray_stats["nodes"] == 2  # both actors took batches, one on each node
    nodes = "SELECT count(DISTINCT split_part(worker, '@', 2)) FROM ops.measures WHERE operator = 'l1_extract'"
    assert query(lake, nodes) == [(2,)]
    assert ray_stats["chunks"] >= documents // 40
    assert _extractions(lake) == (documents, documents)
    # every English text's rules ran on Ray, none in process: the model raises on a missing verdict
    (english,) = query(lake, "SELECT count(DISTINCT content_hash) FROM tiers.l1_clean WHERE language = 'en'")[0]
    assert english > 100
    assert query(lake, "SELECT count(DISTINCT input_hash) FROM ops.measures WHERE operator = 'th_quality_flags'") == [
        (english,)
    ]
    # recomputed on Ray, every row equals the in-process one: the publisher finds nothing to change
    assert model["status"] == "unchanged"
    assert _rows(lake) == in_process
    kept = query(lake, "SELECT count(*) FILTER (kept), count(DISTINCT language) FROM tiers.l1_clean")[0]
    assert kept[0] > 50 and kept[1] >= 2


def test_a_killed_job_resumes_with_only_the_unfinished_chunks(lake, handbook_root, ray_instance, tmp_path):
    before, _ = _extractions(lake)
    # a source of its own: French pages in the English and German one would (rightly) fail its language gate
    ingest([handbook_root / "fr-FR"], "debian_handbook_fr", settings=lake)
    (added,) = query(lake, "SELECT count(*) FROM tiers.l0_raw")[0]
    added -= before
    # the job dies (SIGKILL, no cleanup) right after committing its second chunk
    script = (
        f"import os, signal, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import ray\n"
        "from test_ray_engine import _job\nfrom warehouse.config import load_settings\n"
        f"ray.init(address={ray_instance!r}, log_to_driver=False)\n"
        f"_job(load_settings(), lambda s: s.chunks == {KILL_AFTER} and os.kill(os.getpid(), signal.SIGKILL))\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    committed, distinct = _extractions(lake)
    assert 0 < committed - before < added and distinct == committed

    resumed = _job(lake)
    assert resumed.measured == added - (committed - before)  # only documents without a result
    assert _extractions(lake) == (before + added, before + added)  # none lost, none twice

    outcome = run_build(lake, select=["l1_clean"], variables=RAY_VARS, quiet=True)
    assert outcome.success
    operators = outcome.record["models"]["l1_clean"]["operators"]
    assert operators["ray"]["measured"] == 0
    assert query(lake, "SELECT count(*) FROM tiers.l1_clean") == [(before + added,)]
    # the French texts near-duplicate marking saw were signed on Ray from the job's own results in
    # ops.measures, each once, as the in-process signing function signs them
    french = query(
        lake,
        """SELECT content_hash, any_value(text) FROM tiers.l1_clean
           WHERE source = 'debian_handbook_fr' AND (kept OR reject_reasons = ['near_duplicate']) GROUP BY 1""",
    )
    assert operators["ray_minhash"]["signed"] == operators["fuzzy_dedup"]["signed"] == len(french) > 50
    hashes, texts = map(list, zip(*french, strict=True))
    expected = signature_table(MinHasher(MinHashConfig()), pa.array(hashes), texts).to_pydict()
    signed = query(
        lake, f"SELECT * FROM ({SIGNATURES}) WHERE list_contains($2, content_hash)", [MinHashConfig().key, hashes]
    )
    assert sorted(signed) == sorted(
        zip(expected["content_hash"], expected["signature"], expected["bands"], strict=True)
    )


#: a configuration no build signs under (every L1 text is new to it), banded loosely: many candidate pairs
KILL_CONFIG = MinHashConfig(bands=40, rows=2, seed=7)
#: texts near-duplicate marking takes part in: those L1 keeps and those it rejected as near-duplicates
ELIGIBLE = "kept OR reject_reasons = ['near_duplicate']"


def test_a_killed_minhash_job_resumes_and_pairs_what_it_signed(lake, ray_instance):
    """MinHash signing on Ray dies (SIGKILL) once it has committed both texts of a candidate pair, before any
    pairing: the next run signs only the rest, and still pairs the texts the killed job signed."""
    # the reference: every eligible text signed and paired in process, then forgotten
    assert _deduplicate(lake).signed > 100
    signatures, edges = _minhash(lake, KILL_CONFIG)
    assert edges
    catalog = open_catalog(lake)
    for table in ("ops.minhash", "ops.minhash_edges", "ops.minhash_paired"):
        catalog.load_table(table).delete(EqualTo("config", KILL_CONFIG.key))

    pairs = [(a, b) for a, b, _ in edges]
    script = (
        f"import os, signal, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import ray\n"
        "from test_ray_engine import _sign, _signed\nfrom warehouse.config import load_settings\n"
        f"ray.init(address={ray_instance!r}, log_to_driver=False)\nsettings = load_settings()\n"
        "def die_once_a_pair_is_signed(stats):\n    done = set(_signed(settings))\n"
        f"    if any(a in done and b in done for a, b in {pairs!r}):\n        os.kill(os.getpid(), signal.SIGKILL)\n"
        "_sign(settings, die_once_a_pair_is_signed)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    before = _signed(lake)
    assert 0 < len(before) == len(set(before)) < len(signatures)  # died mid-way, each text signed once
    assert _kill_config_rows(lake, "ops.minhash_edges") == _kill_config_rows(lake, "ops.minhash_paired") == 0

    signer, stats = _sign(lake)
    assert signer.stats.signed == stats.signed == len(signatures) - len(before)  # only the texts still unsigned
    # the same signatures and pairs as in process, among them pairs of texts that only the killed job
    # signed (a resumed run that paired only what it signed itself would miss those)
    assert _minhash(lake, KILL_CONFIG) == (signatures, edges)
    assert any(a in before and b in before for a, b in pairs)


def _signed(settings) -> list[str]:
    """Content hashes signed under ``KILL_CONFIG``, read through pyiceberg (cheap enough for every chunk)."""
    table = open_catalog(settings).load_table("ops.minhash")
    signed = table.scan(row_filter=EqualTo("config", KILL_CONFIG.key), selected_fields=("content_hash",)).to_arrow()
    return signed.column("content_hash").to_pylist()


def _kill_config_rows(settings, table: str) -> int:
    return query(settings, f"SELECT count(*) FROM {table} WHERE config = $1", [KILL_CONFIG.key])[0][0]


def _sign(settings, on_chunk=None):
    """Near-duplicate marking of L1's eligible texts under ``KILL_CONFIG``, signing on Ray in chunks of 20."""
    signer = RaySigner(catalog_kwargs(settings), default_plan().extractor, Pool(CHUNK), on_chunk)
    return signer, _deduplicate(settings, signer)


def _deduplicate(settings, sign=sign_new):
    lake = connect(settings)
    try:
        lake.con.execute(
            f"CREATE TEMP VIEW eligible AS SELECT doc_id, l1.content_hash, l1.text, l0.ingested_at, true AS eligible "
            f"FROM tiers.l1_clean l1 JOIN tiers.l0_raw l0 USING (doc_id) WHERE {ELIGIBLE}"
        )
        return deduplicate(lake.con, lake.catalog, "eligible", KILL_CONFIG, sign=sign)[1]
    finally:
        lake.close()


def test_ray_signing_names_a_document_whose_text_it_cannot_read(lake):
    """A text to sign that neither L1 nor ops.measures holds is refused by name before any Ray work."""
    opened = connect(lake)
    try:
        opened.con.execute(
            """CREATE TEMP TABLE planted AS SELECT 'planted-doc' AS doc_id, 'planted-hash' AS content_hash,
               'words no table holds' AS text, now() AS ingested_at, true AS eligible"""
        )
        signer = RaySigner(catalog_kwargs(lake), default_plan().extractor)
        signed = query(lake, "SELECT count(*) FROM ops.minhash")
        with pytest.raises(
            ValueError, match=r"1 document\(s\) .* neither in tiers.l1_clean nor in ops.measures .*planted-doc"
        ):
            deduplicate(opened.con, opened.catalog, "planted", MinHashConfig(), sign=signer)
        assert signer.stats.chunks == 0 and query(lake, "SELECT count(*) FROM ops.minhash") == signed
    finally:
        opened.close()


def _job(settings, on_chunk=None):
    """The Ray job alone, as the plugin runs it before L1's SQL, in chunks of 20 documents."""
    lake = connect(settings)
    try:
        return run_l1(lake.con, lake.catalog, catalog_kwargs(settings), default_plan(), Pool(CHUNK), on_chunk=on_chunk)
    finally:
        lake.close()


def test_ray_refuses_what_it_does_not_run(lake):
    """A Ray address without the Ray engine is a usage error; FineWeb's chain is refused, naming it."""
    result = CliRunner().invoke(main, ["build", "--ray-address", "auto"])
    assert result.exit_code == 2 and "--ray-address needs --engine ray" in result.output
    outcome = run_build(lake, select=["l1_clean"], variables="{engine: ray, l1_c4_rewrite: true}", quiet=True)
    assert not outcome.success
    assert query(lake, "SELECT count(*) FROM ops.builds WHERE status = 'success'") == [(3,)]


#: two judges (a score, a label) and perplexity label 6 texts each; classifiers distilled from them score the rest
SCORING = {"l2_judges": {"edu": "v1", "domain": "v1"}, "l2_llm_sample": 6, "l2_max_llm_calls": 6,
           "l2_perplexity": {"model": "gemma-3-270m", "version": "v1", "max_tokens": 64},
           "l2_distill_min_labels": 5, "ray_chunk_rows": 40}  # fmt: skip
SCORES = "SELECT content_hash, scorer, model, prompt_version, status, score, label FROM ops.scores"


def _scores(settings) -> dict[tuple, tuple]:
    """ops.scores by (text, scorer, model, prompt version): status, score, label."""
    return {tuple(row[:4]): tuple(row[4:]) for row in query(settings, SCORES)}


def test_ray_scores_equal_the_in_process_scores(lake, ray_instance, tmp_path):
    """ops.scores with engine: ray (judges and perplexity on Ray, classifiers distilled on the driver, applied on Ray)
    equals the in-process scores of the same texts, though its first build was killed mid-judging: the next
    build judges only what the killed one had not committed, and a rebuild calls nothing."""
    assert run_build(lake, select=["scores"], variables=json.dumps(SCORING), quiet=True).success
    in_process = _scores(lake)
    # forgotten: the scores, and the classifiers distilled from them, so that the Ray build labels and trains again
    open_catalog(lake).load_table("ops.scores").delete(AlwaysTrue())
    shutil.rmtree(lake.home / "models")
    assert _scores(lake) == {}

    ray_vars = json.dumps({**SCORING, "engine": "ray", "ray_address": ray_instance})
    committed = _killed_once_judging(lake, ray_vars, tmp_path / "killed.log")
    outcome = run_build(lake, select=["scores"], variables=ray_vars, quiet=True)
    assert outcome.success
    stats = outcome.record["models"]["scores"]["operators"]["ray"]
    judged = {k: v for k, v in in_process.items() if k[1] in ("edu", "domain", "perplexity")}
    distilled = {k: v for k, v in in_process.items() if k[1].endswith("-distilled")}
    assert len(judged) == 18 and len(distilled) > 100 and 0 < committed < len(judged)
    # a score and a perplexity are distilled; the domain judge gives these handbook pages too few distinct
    # labels to train on (seen with 6 and with 8 labels), so its labels stand alone
    assert {scorer for _, scorer, *_ in distilled} == {"edu-distilled", "perplexity-distilled"}
    assert stats["judged"] == len(judged) - committed and stats["classified"] == len(distilled)
    # each judge's pool cut its texts into one block per actor, and both actors took one (for the judge
    # the killed build had begun, its workers count too)
    spread = "SELECT version, count(DISTINCT worker) FROM ops.measures WHERE operator = 'th_judge' GROUP BY 1"
    assert all(n >= 2 for _, n in query(lake, spread))
    measured = "SELECT operator, count(*) FROM ops.measures WHERE status IS NOT NULL GROUP BY 1 ORDER BY 1"
    assert query(lake, measured) == [("th_classify", len(distilled)), ("th_judge", len(judged))]  # none twice
    on_ray = _scores(lake)
    assert on_ray.keys() == in_process.keys()  # the same texts, judges and classifier ids (trained on the same labels)
    for key, (status, score, label) in in_process.items():
        assert on_ray[key][0] == status and on_ray[key][2] == label, key
        assert score is None or on_ray[key][1] == pytest.approx(score, abs=1e-9), key

    again = run_build(lake, select=["scores"], variables=ray_vars, quiet=True)
    assert again.success and again.record["models"]["scores"]["status"] == "unchanged"
    assert again.record["models"]["scores"]["operators"]["ray"]["judged"] == 0
    assert again.record["models"]["scores"]["operators"]["ray"]["classified"] == 0


def _killed_once_judging(settings, variables: str, log: Path) -> int:
    """Run `tierhouse build --select scores` and SIGKILL it once its first judged texts are committed
    to ops.measures; return how many it committed. Its lease lasts 5 s, so the next build waits no longer."""
    env = dict(os.environ, TIERHOUSE_HOME=str(settings.home), TIERHOUSE_BUILD_LEASE_S="5")
    command = [sys.executable, "-m", "warehouse.cli", "build", "--select", "scores", "--vars", variables]
    judged = "SELECT count(*) FROM ops.measures WHERE operator = 'th_judge'"
    builds = "SELECT count(*) FROM ops.builds"
    recorded = query(settings, builds)
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not query(settings, judged)[0][0]:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert query(settings, builds) == recorded  # it never finished
    return query(settings, judged)[0][0]


EDITS = "SELECT content_hash, editor, model, prompt_version, output, status FROM ops.edits"
QA = "SELECT qa_key, question, answer, evidence, second_answer, status, verdict, confidence FROM ops.qa"


def test_ray_edits_and_qa_equal_the_in_process_calls(lake, ray_instance):
    """ops.edits' editor and ops.qa's generator then verifier, called on Ray through an OpenAI-compatible
    server, give the rows the in-process calls gave; the next build calls only texts not called yet."""
    with ScriptedLLM() as llm:
        variables = {"llm": llm.config, "l2_judges": {"edu": "v1"}, "l2_perplexity": None, "l2_llm_sample": 12,
                     "l2_max_llm_calls": 12, "l2_distill_min_labels": 10, "l3_max_llm_edits": 8,
                     "l4_max_llm_calls": 8, "ray_chunk_rows": 40}  # fmt: skip
        assert run_build(lake, variables=json.dumps(variables), quiet=True).success
        edits, pairs = set(query(lake, EDITS)), set(query(lake, QA))
        verdicts = {row[6] for row in pairs}
        assert len(edits) == 8 and len(pairs) == 8 and {"verified", "answers_disagree"} <= verdicts, verdicts
        catalog = open_catalog(lake)
        for table in ("ops.edits", "ops.qa"):
            catalog.load_table(table).delete(AlwaysTrue())

        before = llm.requests
        ray_vars = json.dumps({**variables, "engine": "ray", "ray_address": ray_instance})
        outcome = run_build(lake, select=["edits", "qa"], variables=ray_vars, quiet=True)
        assert outcome.success
        parsed = sum(1 for row in pairs if row[1] is not None)  # pairs that parsed went to the verifier
        calls = len(edits) + len(pairs) + parsed
        models = outcome.record["models"]
        assert models["edits"]["operators"]["ray"]["generated"] + models["qa"]["operators"]["ray"]["generated"] == calls
        # each call is one job cut into a batch per actor: the verifier's questions too, not a job each
        assert models["edits"]["operators"]["ray"]["chunks"] == 2 and models["qa"]["operators"]["ray"]["chunks"] <= 4
        assert llm.requests - before == calls
        assert set(query(lake, EDITS)) == edits and set(query(lake, QA)) == pairs
        # the next build takes the budget's next texts, and calls none of those called before
        again = run_build(lake, select=["edits", "qa"], variables=ray_vars, quiet=True)
        generated = sum(again.record["models"][m]["operators"]["ray"]["generated"] for m in ("edits", "qa"))
        assert again.success and generated > 0 and llm.requests - before == calls + generated
        twice = (
            "SELECT count(*) - count(DISTINCT (input_hash, version)) FROM ops.measures WHERE version LIKE '%scripted%'"
        )
        assert query(lake, twice) == [(0,)]

"""The bundled corpus in one lake, built once for this module: every tier, the corpus's
near-duplicates, and the notebooks run top to bottom on it (so they never rot).

Each source is thinned to one document (or file) in ``THIN[source]``, in order: the whole corpus
takes the quick start over ten minutes on 2 cores, and a share of each source still holds every kind
of document, language and near-duplicate these tests look at (the quick start ingests it all)."""

from __future__ import annotations

import gzip
from pathlib import Path

import nbformat
import pytest
from conftest import query
from nbclient import NotebookClient
from test_build import TIERS, tags

from warehouse.build import run_build
from warehouse.config import load_settings
from warehouse.corpus import PreparedSource
from warehouse.ingest import ingest
from warehouse.ingest.readers import expand_inputs

THIN = {"fortunes": 8, "spamassassin": 3, "debian_handbook": 2, "sotu": 1}


def thinned(item: PreparedSource, out: Path, every: int) -> Path:
    """One line in ``every`` of a JSONL file, or links to one file in ``every`` of a folder's (same paths)."""
    source = item.paths[0]
    if source.is_file():
        with gzip.open(source, "rt") as src, gzip.open(out.with_suffix(".jsonl.gz"), "wt") as dst:
            dst.writelines(line for i, line in enumerate(src) if i % every == 0)
        return out.with_suffix(".jsonl.gz")
    for path in expand_inputs([source], item.source.format, item.source.pattern)[::every]:
        link = out / path.path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.path)
    return out


@pytest.fixture(scope="module")
def corpus_lake(corpus: dict[str, PreparedSource], tmp_path_factory: pytest.TempPathFactory):
    """The bundled corpus (thinned) ingested and built once, shared by the tests that read it.

    Returns (settings, outcome of the first build). Tests that build again must query past states
    with ``FOR VERSION AS OF 'build-1'`` rather than assume the lake is as the first build left it.
    """
    work = tmp_path_factory.mktemp("corpus")
    settings = load_settings(work / "lake")
    for name, item in corpus.items():
        s = item.source
        ingest(
            [thinned(item, work / name, THIN[name])], name, settings=settings, fmt=s.format, id_field=s.id_field,
            pattern=s.pattern, uri_prefix=item.uri_prefix,
        )  # fmt: skip
    # the default CPU judge (llama.cpp, SmolLM2) labels a small sample, so the default path runs too
    # (perplexity has its own build test)
    variables = '{"l2_max_llm_calls": 6, "l2_llm_sample": 6, "l2_perplexity": null}'
    return settings, run_build(settings, quiet=True, variables=variables)


def test_full_build_on_bundled_corpus_populates_every_tier(corpus_lake):
    settings, outcome = corpus_lake
    assert outcome.success and outcome.record["status"] == "success"
    first = f"build-{outcome.record['build_id']}"

    def at_build(tier: str) -> str:
        return f"tiers.{tier} FOR VERSION AS OF '{first}'"

    counts = {t: query(settings, f"SELECT count(*) FROM {at_build(t)}")[0][0] for t in TIERS}
    assert all(n > 0 for n in counts.values()), counts
    assert counts["l1_clean"] == query(settings, "SELECT count(*) FROM tiers.l0_raw")[0][0]
    # every tier keeps its L0 parent, and each tier is drawn from the one below
    for tier in TIERS:
        orphans = f"SELECT count(*) FROM {at_build(tier)} WHERE doc_id NOT IN (SELECT doc_id FROM tiers.l0_raw)"
        assert query(settings, orphans) == [(0,)]
    selected_not_kept = (
        f"SELECT count(*) FROM {at_build('l2_selected')} "
        f"WHERE doc_id NOT IN (SELECT doc_id FROM {at_build('l1_clean')} WHERE kept)"
    )
    assert query(settings, selected_not_kept) == [(0,)]
    assert counts["l3_refined"] == counts["l2_selected"]
    reasons_sql = f"SELECT r, count(*) FROM (SELECT unnest(reject_reasons) r FROM {at_build('l1_clean')}) GROUP BY 1"
    assert {"too_short", "too_few_words", "language_uncertain"} <= set(dict(query(settings, reasons_sql)))
    assert query(settings, f"SELECT count(DISTINCT language) FROM {at_build('l2_selected')}")[0][0] >= 10
    # the default judges (llama.cpp on CPU) labelled the 6-text sample the fixture allowed them
    judged = query(settings, "SELECT scorer, model, count(*) FROM ops.scores FOR VERSION AS OF 'build-1' "
                             "WHERE scorer IN ('edu', 'domain') GROUP BY ALL ORDER BY 1")  # fmt: skip
    assert judged == [("domain", "smollm2-135m-instruct", 6), ("edu", "smollm2-135m-instruct", 6)]
    record = outcome.record
    for tier in TIERS:
        entry = record["models"][tier]
        assert entry["status"] == "published" and entry["rows_added"] == counts[tier]
        assert all(check["success"] for check in entry["gate"])
        assert tags(settings, tier)[first] == entry["snapshot_id"]


def test_corpus_build_rejects_near_duplicates_and_keeps_the_earliest(corpus_lake):
    settings, outcome = corpus_lake
    l1 = "tiers.l1_clean FOR VERSION AS OF 'build-1'"
    stats = outcome.record["models"]["l1_clean"]["operators"]["fuzzy_dedup"]
    assert stats["signed"] > 1000 and stats["near_duplicates"] > 0
    marked = query(settings, f"SELECT count(*) FROM {l1} WHERE list_contains(reject_reasons, 'near_duplicate')")
    assert marked == [(stats["near_duplicates"],)]
    # every cluster keeps exactly one document, its earliest ingested (ties: smallest doc_id), which the
    # rejected members name; the keeper's own row carries no cluster
    clusters = query(
        settings,
        f"""SELECT k.doc_id, k.kept AND k.near_dup_cluster IS NULL, count(*) FILTER (WHERE m.kept),
                   bool_and((kl.ingested_at, k.doc_id) < (ml.ingested_at, m.doc_id)), count(*)
            FROM {l1} m JOIN tiers.l0_raw ml USING (doc_id)
            JOIN {l1} k ON k.doc_id = m.near_dup_cluster JOIN tiers.l0_raw kl ON kl.doc_id = k.doc_id
            GROUP BY 1, 2""",
    )
    assert len(clusters) == stats["clusters"] and sum(size for *_, size in clusters) == stats["near_duplicates"]
    assert all(keeper_kept and kept == 0 and earliest for _, keeper_kept, kept, earliest, _ in clusters)
    assert query(settings, "SELECT count(DISTINCT content_hash) FROM ops.minhash") == [(stats["signed"],)]


NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == ["01_explore_tiers.ipynb", "02_time_travel.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, corpus_lake, monkeypatch):
    settings, _ = corpus_lake
    monkeypatch.setenv("TIERHOUSE_HOME", str(settings.home))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any(o.output_type == "execute_result" for o in outputs)

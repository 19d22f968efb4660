"""ops.scores inside `dbt build`, against llama_cpp.server behind a fault-injecting proxy.

One lake goes through the life of a score cache: a first build under 30% faults, a build that
retries only the failures, a rebuild that calls nothing, an ingest that scores only new texts,
and a prompt bump that rescores. Every request the proxy sees is counted.
"""

from __future__ import annotations

import json

import orjson
import pytest
from click.testing import CliRunner
from conftest import query
from fault_proxy import FAULTS, FaultProxy

from udfs.scorers.prompts import PROMPTS
from warehouse.build import run_build
from warehouse.catalog import open_catalog
from warehouse.cli import main
from warehouse.evaluate.holdout import held_out_sql
from warehouse.export.dataset import Mixture, export_stage
from warehouse.ingest import ingest

PER_STRATUM = 4  # a sample of 8 texts over two strata, judged by each judge
MIN_LABELS = 6  # enough to distil a classifier from them


def _vars(proxy_url: str, timeout_s: int = 180, **extra) -> str:
    # one request at a time: llama_cpp.server queues the rest, so their wait would count against the timeout.
    # Under faults a hang (13 s) must time out; a clean build waits longer, since on loaded cores the server
    # may still be answering what the faulty build abandoned (seen: a clean build's calls timing out at 20 s)
    llm = {"backend": "openai", "model": "smollm2-135m-instruct", "base_url": proxy_url, "api_key_env": "TEST_KEY",
           "concurrency": 1, "timeout_s": timeout_s, "max_attempts": 2, "max_wait_s": 0.5}  # fmt: skip
    return json.dumps(
        {
            "llm": llm,
            "l2_llm_sample": 2 * PER_STRATUM,
            "l2_max_llm_calls": 32,
            "l2_distill_min_labels": MIN_LABELS,
            "l2_perplexity": None,  # perplexity runs in-process, not through the server: its own test below
            # a classifier of 8 labels cannot show that it ranks: here it selects all the same (the
            # guard, l2_distill_min_spearman, has its own test below)
            "l2_distill_min_spearman": None,
            **extra,
        }
    )


def _speeches(corpus, start: int, n: int) -> list[bytes]:
    paths = sorted(corpus["sotu"].paths[0].glob("*.json"))[start : start + n]
    texts = [json.loads(p.read_text())["text"] for p in paths]
    cut = [t[: t.index(". ", 2500) + 1] for t in texts]  # the opening, ending on a sentence
    return [orjson.dumps({"text": t, "origin": p.name}) + b"\n" for t, p in zip(cut, paths, strict=True)]


def _ledger(settings, build_id: int) -> dict[str, int]:
    """The judges' ledger of a build (tierhouse cost --json), summed over sources and judges."""
    result = CliRunner().invoke(main, ["--home", str(settings.home), "cost", "--build", str(build_id), "--json"])
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.output)["rows"] if r["step"] in ("edu", "domain")]
    assert all(r["tier"] == "l2_selected" and r["source"] in ("sotu_a", "sotu_b") for r in rows), rows
    return {k: sum(r[k] for r in rows) for k in ("calls", "cached", "failed", "tokens_in", "tokens_out", "cost")}


def _judge_rows(settings, where: str = "true") -> list[tuple]:
    return query(
        settings,
        f"SELECT scorer, status, attempts, error FROM ops.scores WHERE scorer IN ('edu', 'domain') AND {where}",
    )


@pytest.fixture
def lake(settings, corpus, tmp_path):
    """Two strata of real addresses (sources a and b), 13 each."""
    for name, start in (("sotu_a", 150), ("sotu_b", 170)):
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"".join(_speeches(corpus, start, 13)))
        ingest([path], name, settings=settings)
    return settings


def test_score_cache_through_faults_retries_rebuilds_ingests_and_prompt_bumps(
    lake,
    llm_server,
    corpus,
    tmp_path,
    monkeypatch,  # noqa: F811
):
    upstream = llm_server.removesuffix("/v1")
    monkeypatch.setenv("TEST_KEY", "sk-secret-never-logged")
    # 1. a first build under 30% faults (timeouts, 500s, junk JSON, resets, 429s) completes; every
    # judged text has a row, failures included, with the error and never the API key
    with FaultProxy(upstream, fault_rate=0.3, hang_s=13, seed=5) as proxy:
        first = run_build(lake, quiet=True, variables=_vars(proxy.url, timeout_s=12))
    assert first.success, first.record
    # every fault kind fired; on loaded cores an answer may also come after the client gave up (abandoned)
    assert {"forwarded", *FAULTS} <= set(proxy.log.outcomes) <= {"forwarded", "abandoned", *FAULTS}
    rows = _judge_rows(lake)
    assert len(rows) == 2 * 2 * PER_STRATUM  # two judges x two strata x the sample
    failed = [r for r in rows if r[1] == "failed"]
    assert failed and all(r[3] and r[2] == 1 and "sk-secret" not in r[3] for r in failed), failed
    assert {r[1] for r in rows} <= {"ok", "unparsed", "failed"}
    assert proxy.log.count("forwarded") == len(rows) - len(failed)
    # the cost ledger counts every request the server side saw (retries too) and the failures
    ledger = _ledger(lake, first.record["build_id"])
    assert ledger["calls"] == len(proxy.log.outcomes) and ledger["failed"] == len(failed) and ledger["cached"] == 0
    usage = query(lake, "SELECT sum(tokens_in), sum(tokens_out), sum(tokens_in / 1e6 * 0.1 + tokens_out / 1e6 * 0.4) "
                        "FROM ops.scores WHERE scorer IN ('edu', 'domain')")[0]  # fmt: skip
    assert usage[0] > 100 * len(rows) and (ledger["tokens_in"], ledger["tokens_out"]) == usage[:2]
    assert ledger["cost"] == pytest.approx(usage[2])  # the openai prices of dbt_project.yml's llm_prices

    # 2. the next build sends exactly the failed ones again. Their labels grow the set each distilled
    # classifier learnt from, and with no retrain share that retrains it: every text it scores moves
    # on purpose, so the build records which classifier replaced which, and accepts the score drift.
    # A classifier learnt from a dozen labels may select far fewer texts (CI saw L2 keep 3 of 22, and
    # L3 and L4 follow), so the tiers' row-drop gate is opened for this build too
    distilled_before = dict(query(lake, "SELECT scorer, any_value(model) FROM ops.scores "
                                        "WHERE scorer LIKE '%-distilled' GROUP BY 1"))  # fmt: skip
    labels = "SELECT scorer, count(*) FROM ops.scores WHERE scorer IN ('edu', 'domain') AND status = 'ok' GROUP BY 1"
    labels_before = dict(query(lake, labels))
    accepted = {t: {"by": "test", "reason": "labels grew"} for t in ("scores", "l2_selected")}
    with FaultProxy(upstream) as proxy:
        retrain = {"l2_distill_retrain_share": 0, "gate_accept_drift": accepted,
                   "gate_max_row_drop": {"default": 1, "edits": 0, "qa": 0}}  # fmt: skip
        second = run_build(lake, quiet=True, variables=_vars(proxy.url, **retrain))
    assert second.success and len(proxy.log.outcomes) == len(failed)
    distilled_after = query(lake, "SELECT scorer, any_value(model), count(*) FROM ops.scores "
                                  "WHERE scorer LIKE '%-distilled' GROUP BY 1 ORDER BY 1")  # fmt: skip
    retrained = second.record["models"]["scores"]["operators"].get("retrained", [])
    replaced = [
        (s, distilled_before[s], model, n) for s, model, n in distilled_after if distilled_before.get(s, model) != model
    ]
    assert [(r["scorer"], r["from"], r["to"], r["rescored"]) for r in retrained] == replaced
    # which judge's calls failed under the faults varies with timing; a judge whose labels grew retrains
    grew = {f"{judge}-distilled" for judge, n in query(lake, labels) if n > labels_before.get(judge, 0)}
    grew &= set(distilled_before)
    assert grew <= {r["scorer"] for r in retrained}
    assert _ledger(lake, second.record["build_id"])["calls"] == len(failed)
    assert _ledger(lake, second.record["build_id"])["cached"] == len(rows) - len(failed)
    assert not [r for r in _judge_rows(lake) if r[1] == "failed"]
    assert sorted(r[2] for r in _judge_rows(lake) if r[2] > 1) == [2] * len(failed)

    # 3. nothing changed: no call at all, and ops.scores keeps its snapshot
    scores_before = query(lake, "SELECT count(*), sum(hash(score_id, score, label)) FROM ops.scores")
    with FaultProxy(upstream) as proxy:
        third = run_build(lake, quiet=True, variables=_vars(proxy.url))
    assert third.success and proxy.log.outcomes == []
    assert {k: v for k, v in _ledger(lake, third.record["build_id"]).items() if v} == {"cached": len(rows)}
    # an export states what the LLM work on its documents cost, at the prices its build recorded: its
    # documents are L2's outside the held-out split (which no export holds)
    exported = export_stage(open_catalog(lake), "pretrain", Mixture({"l2": 1.0}, None), tmp_path / "export")
    trained = f"SELECT content_hash FROM tiers.l2_selected WHERE NOT {held_out_sql('doc_id')}"
    judged = query(lake, "SELECT count(*), sum(requests), sum(tokens_in / 1e6 * 0.1 + tokens_out / 1e6 * 0.4) "
                         f"FROM ops.scores WHERE scorer IN ('edu', 'domain') AND content_hash IN ({trained})"
                   )[0]  # fmt: skip
    spent = exported.manifest["cost"]["by_tier"]["l2_selected"]
    assert (spent["results"], spent["calls"]) == judged[:2] and judged[0] > 0
    assert exported.manifest["cost"]["total"] == pytest.approx(judged[2], abs=1e-6)
    assert third.record["models"]["scores"]["status"] == "unchanged"
    assert query(lake, "SELECT count(*), sum(hash(score_id, score, label)) FROM ops.scores") == scores_before

    # the distilled classifier scored the kept texts the judges did not label, and L2 says who scored what
    distilled = query(lake, "SELECT count(*) FROM ops.scores WHERE scorer = 'edu-distilled' AND status = 'ok'")[0][0]
    kept = query(lake, "SELECT count(DISTINCT content_hash) FROM tiers.l1_clean WHERE kept")[0][0]
    edu_ok = query(lake, "SELECT count(*) FROM ops.scores WHERE scorer = 'edu' AND status = 'ok'")[0][0]
    # every kept text the judge did not label has a distilled score (a text judged after a failed call
    # keeps the one it got meanwhile: the classifier is not retrained for a few new labels)
    unscored = query(
        lake,
        "SELECT count(DISTINCT content_hash) FROM tiers.l1_clean WHERE kept AND content_hash NOT IN "
        "(SELECT content_hash FROM ops.scores WHERE scorer IN ('edu', 'edu-distilled') AND status = 'ok')",
    )[0][0]
    assert unscored == 0 and kept - edu_ok <= distilled <= kept - edu_ok + len(failed) and distilled > 0
    mislabelled = query(
        lake,
        "SELECT count(*) FROM tiers.l2_selected l LEFT JOIN "
        "(SELECT content_hash FROM ops.scores WHERE scorer = 'edu' AND status = 'ok') j USING (content_hash) "
        "WHERE l.edu_scored_by IS NULL OR (j.content_hash IS NOT NULL) <> starts_with(l.edu_scored_by, 'edu:')",
    )
    assert mislabelled == [(0,)]

    # 4. new texts: the judges see only those of them that enter the sample
    judged = "SELECT score_id, content_hash FROM ops.scores WHERE scorer IN ('edu', 'domain')"
    before = set(query(lake, judged))
    extra = tmp_path / "extra.jsonl"
    extra.write_bytes(b"".join(_speeches(corpus, 200, 4)))
    batch = ingest([extra], "sotu_a", settings=lake).ingest_batch
    with FaultProxy(upstream) as proxy:
        assert run_build(lake, quiet=True, variables=_vars(proxy.url)).success
    added = set(query(lake, judged)) - before
    new_texts = {r[0] for r in query(lake, "SELECT content_hash FROM tiers.l1_clean JOIN tiers.l0_raw USING (doc_id) "
                                           "WHERE ingest_batch = ?", [batch])}  # fmt: skip
    assert len(proxy.log.outcomes) == len(added) <= 2 * len(new_texts) and {h for _, h in added} <= new_texts

    # 5. a prompt bump rescores that judge's whole sample, and only that judge's
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "edu-v2.toml").write_text((PROMPTS / "edu-v1.toml").read_text())
    monkeypatch.setenv("TIERHOUSE_PROMPT_DIRS", str(tmp_path / "prompts"))
    with FaultProxy(upstream) as proxy:
        bumped = run_build(lake, quiet=True, variables=_vars(proxy.url, l2_judges={"edu": "v2", "domain": "v1"}))
    assert bumped.success and len(proxy.log.outcomes) == 2 * PER_STRATUM
    assert query(lake, "SELECT count(*) FROM ops.scores WHERE scorer = 'edu' AND prompt_version = 'v2'") == [
        (2 * PER_STRATUM,)
    ]


def test_perplexity_scores_the_sample_a_regressor_the_rest_and_l2_selects_on_it(lake):
    """Gemma-3-270M perplexity through the same cache, sample and budget as the judges."""
    window = {"model": "gemma-3-270m", "version": "v1", "max_tokens": 128}  # half the default: quicker
    # as in _vars: 8 labels cannot show that the regressor ranks; here it selects all the same
    variables = {"l2_judges": {}, "l2_llm_sample": 2 * PER_STRATUM, "l2_distill_min_labels": MIN_LABELS,
                 "l2_max_llm_calls": 32, "l2_perplexity": window, "l2_distill_min_spearman": None}  # fmt: skip
    assert run_build(lake, quiet=True, variables=json.dumps(variables)).success
    own = query(lake, "SELECT score, raw FROM ops.scores WHERE scorer = 'perplexity' AND status = 'ok'")
    assert len(own) == 2 * PER_STRATUM and all(1 <= score < 100 and '"tokens": 128' in raw for score, raw in own)
    low, high = min(r[0] for r in own), max(r[0] for r in own)
    distilled = query(lake, "SELECT score FROM ops.scores WHERE scorer = 'perplexity-distilled'")
    kept = query(lake, "SELECT count(DISTINCT content_hash) FROM tiers.l1_clean WHERE kept")[0][0]
    assert len(distilled) == kept - len(own) and all(low <= s <= high for (s,) in distilled)
    by = query(lake, "SELECT split_part(perplexity_scored_by, ':', 1), count(*) FROM tiers.l2_selected GROUP BY 1")
    assert dict(by) == {"perplexity": len(own), "perplexity-distilled": len(distilled)}

    # a perplexity bar: L2 keeps exactly the texts at or under it, and nothing is scored again
    scores = query(lake, "SELECT count(*), max(scored_at) FROM ops.scores")
    bar = sorted(r[0] for r in own)[PER_STRATUM]
    assert run_build(lake, quiet=True, variables=json.dumps({**variables, "l2_max_perplexity": bar})).success
    assert query(lake, "SELECT count(*), max(scored_at) FROM ops.scores") == scores
    under = query(
        lake,
        "SELECT count(*) FILTER (WHERE s.score <= ?), count(l.content_hash) FROM ops.scores s "
        "LEFT JOIN tiers.l2_selected l USING (content_hash) WHERE s.scorer LIKE 'perplexity%'",
        [bar],
    )
    assert under[0][0] == under[0][1] < kept


def test_a_classifier_that_cannot_rank_its_labels_does_not_decide_l2(lake, monkeypatch):
    """The quick start's L2 fell to 29 of 9,566 texts: 32 labels of a weak judge, their mean under the
    bar, distilled into a classifier that predicts about that mean for every text. Planted here: a
    judge whose ratings follow no feature of the text, most under the bar. L2 must treat what its
    classifier scored as unscored; with the guard off, the classifier alone decides (the fault shows)."""
    import stand_ins

    from udfs.scorers.distill import report

    stand_ins.install(monkeypatch, edu=stand_ins.judged(lambda text: round(1.0 + stand_ins.hash_share(text), 3)))
    # no perplexity is computed, and a perplexity bar must not hold back the texts it never scored
    variables = {"l2_judges": {"edu": "v1"}, "l2_perplexity": None, "l2_llm_sample": 12, "l2_max_llm_calls": 12,
                 "l2_distill_min_labels": 10, "l2_min_edu_score": 1.8, "l2_max_perplexity": 50}  # fmt: skip
    assert run_build(lake, quiet=True, variables=json.dumps(variables)).success
    (model,) = query(lake, "SELECT DISTINCT model FROM ops.scores WHERE scorer = 'edu-distilled'")[0]
    assert report(model)["labels"] == 12 and report(model)["spearman"] < 0.3
    scores = "SELECT content_hash, scorer, score FROM ops.scores WHERE status = 'ok'"
    judged = {h: s for h, scorer, s in query(lake, scores) if scorer == "edu"}
    distilled = {h: s for h, scorer, s in query(lake, scores) if scorer == "edu-distilled"}
    assert len(judged) == 12 and len(distilled) == 26 - 12
    l2 = dict(query(lake, "SELECT content_hash, edu_score FROM tiers.l2_selected"))
    assert {h for h, s in judged.items() if s >= 1.8} | set(distilled) == set(l2)
    assert all(l2[h] is None for h in distilled)

    # with the guard off the classifier holds most of its texts back: on a lake with a published L2 the
    # row-drop gate refuses that (a first build, as the quick start's, has nothing to compare with)
    unguarded = {**variables, "l2_distill_min_spearman": None}
    refused = run_build(lake, quiet=True, variables=json.dumps(unguarded))
    assert not refused.success and refused.record["models"]["l2_selected"]["status"] == "gate_failed"
    assert run_build(lake, quiet=True, variables=json.dumps({**unguarded, "gate_max_row_drop": {"default": 1}})).success
    l2 = dict(query(lake, "SELECT content_hash, edu_score FROM tiers.l2_selected"))
    assert {h for h, s in {**judged, **distilled}.items() if s >= 1.8} == set(l2)
    assert len([h for h in distilled if h not in l2]) > len(distilled) / 2  # the classifier held them back

"""L3 edits and L4 QA inside `dbt build`: the real CPU backend, a planted bad editor, faults and the cache."""

from __future__ import annotations

import json

import orjson
import pytest
import stand_ins
from conftest import query
from fault_proxy import FaultProxy
from test_refine import furnished

from udfs.repairs import repair
from udfs.scorers.prompts import PROMPTS
from warehouse.build import run_build
from warehouse.ingest import ingest

# openings of two or three long sentences: C4's five-sentence rule is relaxed for this test's source
NO_SCORING = {"l2_max_llm_calls": 0, "l1_source_rules": {"site": {"c4_quality": {"min_num_sentences": 2}}}}


def _openings(corpus, start: int, n: int) -> list[str]:
    """Openings of about 80 words: short enough to edit in seconds on one loaded core."""
    paths = sorted(corpus["sotu"].paths[0].glob("*.json"))[start : start + n]
    texts = [json.loads(p.read_text())["text"] for p in paths]
    return [t[: t.index(". ", 400) + 1] for t in texts]


@pytest.fixture
def lake(settings, corpus, tmp_path):
    """Three addresses laid out as web pages (menu lines between sentences), two clean ones."""
    pages = [furnished(t) for t in _openings(corpus, 200, 3)]
    docs = [{"text": t} for t in [*pages, *_openings(corpus, 205, 2)]]
    path = tmp_path / "pages.jsonl"
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    ingest([path], "site", settings=settings)
    return settings


def test_cpu_editor_and_qa_keep_before_after_and_publish_only_verified_pairs(lake, corpus, tmp_path, monkeypatch):
    # a planted bad editor: it summarises instead of cleaning, so every edit it makes must be rejected
    (tmp_path / "prompts").mkdir()
    bad = (
        (PROMPTS / "cleanup-v1.toml")
        .read_text()
        .replace("Rewrite the text below with", "Summarise the text below in one short sentence, with")
    )
    (tmp_path / "prompts" / "cleanup-v9.toml").write_text(bad)
    monkeypatch.setenv("TIERHOUSE_PROMPT_DIRS", str(tmp_path / "prompts"))
    variables = {**NO_SCORING, "l3_max_llm_edits": 3, "l4_max_llm_calls": 3}
    outcome = run_build(lake, quiet=True, variables=json.dumps(variables))
    assert outcome.success, outcome.record
    rows = query(lake, "SELECT text_before, text, llm_edit, editor, edit_ratio, content_hash FROM tiers.l3_refined")
    assert len(rows) == 5
    pages = [r for r in rows if r[0].startswith("Home\n")]
    assert len(pages) == 3 and all(r[2] == "not_needed" for r in rows if r not in pages)
    edited = [r for r in rows if r[2] != "not_needed"]
    assert len(edited) == 3 and all(r[2] in ("accepted", "unparsed") or r[2].startswith("rejected:") for r in edited)
    for before, text, llm_edit, editor, ratio, _ in rows:
        assert before and text and 0.5 <= ratio <= 1  # the L2 text is kept beside the result
        if llm_edit != "accepted":
            assert text == repair(before) and editor != "llm"  # the documented fallback: the repaired text
    assert query(lake, "SELECT count(*), count(DISTINCT status) > 0 FROM ops.edits")[0][0] == 3

    bad_vars = {**variables, "l3_editor": {"prompt": "cleanup", "version": "v9"}}
    assert run_build(lake, quiet=True, variables=json.dumps(bad_vars)).success
    verdicts = [r[0] for r in query(lake, "SELECT llm_edit FROM tiers.l3_refined WHERE llm_edit <> 'not_needed'")]
    assert verdicts and all(v.startswith("rejected:") or v in ("unparsed", "failed") for v in verdicts), verdicts
    assert query(lake, "SELECT count(*) FROM tiers.l3_refined WHERE editor = 'llm'") == [(0,)]

    # L4: every synthesised pair stays in ops.qa with its verdict; only verified ones are published,
    # and their evidence occurs in the L3 text they came from
    judged = query(lake, "SELECT verdict, count(*) FROM ops.qa WHERE status <> 'failed' GROUP BY 1")
    # three texts in the first build, more in the second if the edits changed an L3 text
    assert sum(n for _, n in judged) >= 3 and all(v for v, _ in judged), judged
    published = query(
        lake,
        "SELECT k.evidence, r.text FROM tiers.l4_knowledge k JOIN tiers.l3_refined r USING (doc_id) "
        "WHERE k.generator LIKE 'llm:%'",
    )
    verified = (
        "SELECT count(*) FROM ops.qa WHERE verdict = 'verified' "
        "AND content_hash IN (SELECT content_hash FROM tiers.l3_refined)"
    )
    assert len(published) == query(lake, verified)[0][0]
    assert all(" ".join(evidence.split()) in " ".join(text.split()) for evidence, text in published)

    # the verified-fraction floor gates ops.qa: new pairs that mostly fail verification are not published
    extra = tmp_path / "extra.jsonl"
    extra.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in _openings(corpus, 210, 1)))
    ingest([extra], "site", settings=lake)
    floor = {**bad_vars, "l4_max_llm_calls": 10, "l4_min_verified_fraction": 0.9}
    qa_before = query(lake, "SELECT count(*) FROM ops.qa")
    gated = run_build(lake, quiet=True, variables=json.dumps(floor))
    assert not gated.success and gated.record["models"]["qa"]["status"] == "gate_failed"
    failed_checks = [c["column"] for c in gated.record["models"]["qa"]["gate"] if not c["success"]]
    assert failed_checks == ["verified_fraction"]
    assert query(lake, "SELECT count(*) FROM ops.qa") == qa_before  # main unchanged
    assert gated.record["models"]["l4_knowledge"]["dbt_status"] == "skipped"


def test_generation_faults_are_retried_and_a_rebuild_calls_nothing(lake, llm_server):
    upstream = llm_server.removesuffix("/v1")

    def build(url: str, edits: int, pairs: int, timeout_s: int = 15):
        # under faults a hang (16 s) must time out; a clean rerun waits longer, since the server may still be
        # generating the answers the faulty run abandoned (seen on 2 loaded cores: ReadTimeout at 25 s)
        llm = {"backend": "openai", "model": "smollm2-135m-instruct", "base_url": url,
               "concurrency": 1, "timeout_s": timeout_s, "max_attempts": 2, "max_wait_s": 0.5}  # fmt: skip
        variables = {**NO_SCORING, "llm": llm, "l3_max_llm_edits": edits, "l4_max_llm_calls": pairs}
        outcome = run_build(lake, quiet=True, variables=json.dumps(variables))
        assert outcome.success, outcome.record
        return outcome

    def failed(table: str) -> int:
        return query(lake, f"SELECT count(*) FROM ops.{table} WHERE status = 'failed'")[0][0]

    # edits under 30% faults, then a clean rerun that sends exactly the failed ones again
    with FaultProxy(upstream, fault_rate=0.3, hang_s=16, seed=4) as proxy:  # seed 4: the first edit fails twice
        build(proxy.url, edits=3, pairs=0)
    assert query(lake, "SELECT count(*) FROM ops.edits") == [(3,)]  # every text sent has its row
    failed_edits = failed("edits")
    assert failed_edits > 0, "the 30% fault injection produced no failed edit: nothing below tests a retry"
    with FaultProxy(upstream) as proxy:
        build(proxy.url, edits=3, pairs=0, timeout_s=180)
    assert len(proxy.log.outcomes) == failed_edits and failed("edits") == 0

    # QA pairs under faults: a failed pair is synthesised (and verified) again, nothing else is
    with FaultProxy(upstream, fault_rate=0.3, hang_s=16, seed=28) as proxy:  # seed 28: so does the first pair
        build(proxy.url, edits=3, pairs=10)
    assert query(lake, "SELECT count(*) FROM ops.qa") == [(5,)]  # a pair (or its failure) for each text
    failed_pairs = failed("qa")
    assert failed_pairs > 0, "the 30% fault injection produced no failed pair: nothing below tests a retry"
    with FaultProxy(upstream) as proxy:
        build(proxy.url, edits=3, pairs=10, timeout_s=180)
    assert failed_pairs <= len(proxy.log.outcomes) <= 2 * failed_pairs and failed("qa") == 0

    # nothing changed: no generation call at all
    with FaultProxy(upstream) as proxy:
        again = build(proxy.url, edits=3, pairs=10)
    assert proxy.log.outcomes == []
    assert {again.record["models"][m]["status"] for m in ("edits", "qa")} == {"unchanged"}


def test_a_verified_pair_whose_evidence_differs_only_in_whitespace_publishes(settings, corpus, tmp_path, monkeypatch):
    """ops.qa and the L4 gate apply one evidence rule: a line break where the model wrote a space still counts."""
    opening = _openings(corpus, 212, 1)[0]
    sentence = next(s for s in opening.split(". ") if len(s.split()) >= 12) + "."
    words = sentence.split(" ")
    broken = " ".join(words[: len(words) // 2]) + "\n" + " ".join(words[len(words) // 2 :])
    path = tmp_path / "page.jsonl"
    path.write_bytes(orjson.dumps({"text": opening.replace(sentence, broken, 1)}) + b"\n")
    ingest([path], "site", settings=settings)
    answer = " ".join(words[-4:]).rstrip(".")
    pair = f"Question: What does the address begin with?\nAnswer: {answer}\nEvidence: {sentence}"
    stand_ins.install(monkeypatch, qa=stand_ins.written(lambda text, q: pair),
                      answer=stand_ins.written(lambda text, q: answer))  # fmt: skip
    outcome = run_build(settings, quiet=True, variables=json.dumps({**NO_SCORING, "l4_max_llm_calls": 1}))
    assert outcome.success, outcome.record
    assert query(settings, "SELECT verdict FROM ops.qa") == [("verified",)]
    assert "\n" in query(settings, "SELECT text FROM tiers.l3_refined")[0][0]
    published = query(settings, "SELECT evidence, verdict FROM tiers.l4_knowledge WHERE generator LIKE 'llm:%'")
    assert published == [(sentence, "verified")]

"""The L1 operators inside `dbt build`: near-duplicates, extraction failures, language hints and the rule vars."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from conftest import query
from planted import jaccard, shingle_set

from udfs import identity
from udfs.chain import chain
from udfs.extract import extract_html
from udfs.heuristics import configured_rules, flag_texts
from warehouse.build import run_build
from warehouse.catalog import open_catalog
from warehouse.ingest import ingest


def _speeches(corpus, n: int) -> list[dict]:
    # recent addresses, which pass every rule (the 2021 one, a single line, fails C4 and FineWeb)
    paths = sorted(corpus["sotu"].paths[0].glob("*.json"))[-n - 1 : -1]
    return [{"text": json.loads(p.read_text())["text"], "origin": p.name} for p in paths]


def _jsonl(path: Path, docs: list[dict]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in docs))
    return path


def _near_copy(text: str) -> str:
    """The same address with every 60th word changed (Jaccard of 5-word shingles about 0.85)."""
    words = text.split(" ")
    return " ".join("changed" if i % 60 == 30 else w for i, w in enumerate(words))


def _data_files(settings, table: str) -> dict[str, int]:
    """Path and size of every data file main reads."""
    scan = open_catalog(settings).load_table(table).scan()
    return {task.file.file_path: task.file.file_size_in_bytes for task in scan.plan_files()}


def _build(settings, variables: str | None = None):
    return run_build(settings, quiet=True, variables=variables)


def test_near_duplicate_ingested_later_is_rejected_signing_only_new_texts(settings, corpus, tmp_path):
    speeches = _speeches(corpus, 8)
    ingest([_jsonl(tmp_path / "a.jsonl", speeches)], "sotu", settings=settings)
    first = _build(settings)
    assert first.success
    assert first.record["models"]["l1_clean"]["operators"]["fuzzy_dedup"]["signed"] == 8
    assert query(settings, "SELECT count(*) FROM tiers.l1_clean WHERE near_dup_cluster IS NOT NULL") == [(0,)]
    original = query(settings, "SELECT doc_id FROM tiers.l0_raw WHERE extra LIKE ?", [f"%{speeches[2]['origin']}%"])[0][
        0
    ]

    files_before = _data_files(settings, "tiers.l1_clean")

    copy = [{"text": _near_copy(speeches[2]["text"]), "origin": "copy"}]
    ingest([_jsonl(tmp_path / "b.jsonl", copy)], "mirror", settings=settings)
    second = _build(settings)
    assert second.success
    stats = second.record["models"]["l1_clean"]["operators"]["fuzzy_dedup"]
    assert (stats["signed"], stats["clusters"], stats["near_duplicates"]) == (1, 1, 1)
    rows = query(settings, "SELECT source, kept, reject_reasons, near_dup_cluster FROM tiers.l1_clean "
                           "WHERE near_dup_cluster IS NOT NULL ORDER BY source")  # fmt: skip
    assert rows == [("mirror", False, ["near_duplicate"], original)]
    assert query(settings, "SELECT kept, near_dup_cluster FROM tiers.l1_clean WHERE doc_id = ?", [original]) == [
        (True, None)
    ]
    # the copy was appended: every file holding the earlier rows is still there, none was written again,
    # and the build wrote one small file, which its record counts
    files_after = _data_files(settings, "tiers.l1_clean")
    added = {path: size for path, size in files_after.items() if path not in files_before}
    assert files_before.items() <= files_after.items() and len(added) == 1
    l1 = second.record["models"]["l1_clean"]
    assert l1["bytes_written"] == sum(added.values()) < sum(files_before.values()) / 4
    assert l1["table_bytes"] == sum(files_after.values())
    assert query(settings, "SELECT count(*) FROM ops.minhash") == [(9,)]
    assert second.record["models"]["l2_selected"]["rows_added"] == 0  # the copy never reaches L2


def test_extraction_failures_and_language_hints_are_kept(settings, tmp_path):
    pages = tmp_path / "pages"
    pages.mkdir()
    body = " ".join(["Der Server startet den Dienst neu, wenn die Konfiguration geändert wurde."] * 3)
    (pages / "de.html").write_text(
        f'<html lang="de-DE"><head><title>Dienst</title></head><body><p>{body}</p></body></html>'
    )
    (pages / "empty.html").write_text("<html><head><script>var a = 1;</script></head><body><nav></nav></body></html>")
    ingest([pages], "site", settings=settings, fmt="html")
    assert _build(settings).success
    rows = dict(
        (r[0].rsplit("/", 1)[-1], r[1:])
        for r in query(
            settings, "SELECT uri, title, language_hint, extraction_error, reject_reasons FROM tiers.l1_clean"
        )
    )
    assert rows["de.html"][:3] == ("Dienst", "de", None)
    assert rows["empty.html"][2] == "no_main_text" and "extraction_failed" in rows["empty.html"][3]


def test_rule_and_language_vars_re_decide_old_rows(settings, corpus, tmp_path):
    ingest([_jsonl(tmp_path / "a.jsonl", _speeches(corpus, 6))], "sotu", settings=settings)
    assert _build(settings).success
    assert query(settings, "SELECT count(*) FROM tiers.l1_clean WHERE kept") == [(6,)]

    strict = _build(settings, "{l1_min_language_score: {default: 0.5, en: 1.01}, l1_rules: {c4_quality: false, "
                              "gopher_quality: {min_stop_words: 100000}}}")  # fmt: skip
    assert strict.record["models"]["l1_clean"]["status"] == "published"  # (L2 is left empty: its gate fails)
    reasons = query(settings, "SELECT list_sort(reject_reasons) FROM tiers.l1_clean FOR VERSION AS OF 'build-2'")
    assert reasons == [(["gopher_quality:gopher_enough_stop_words", "language_uncertain"],)] * 6
    # the defaults back: the rules run again and every address is kept
    assert _build(settings).record["models"]["l1_clean"]["status"] == "published"
    assert query(settings, "SELECT count(*) FROM tiers.l1_clean WHERE kept") == [(6,)]


def test_unknown_rule_in_l1_rules_fails_the_build_with_its_name(settings, corpus, tmp_path):
    ingest([_jsonl(tmp_path / "a.jsonl", _speeches(corpus, 2))], "sotu", settings=settings)
    outcome = _build(settings, "{l1_rules: {gopher_qualty: {min_stop_words: 3}}}")
    assert not outcome.success
    error = outcome.record["models"]["l1_clean"]["error"]
    assert "gopher_qualty" in error and "gopher_quality" in error  # the unknown name and the known ones


@pytest.mark.parametrize("threshold", [0.7, 0.9])
def test_threshold_var_changes_what_counts_as_near_duplicate(settings, corpus, tmp_path, threshold):
    speeches = _speeches(corpus, 4)
    words = speeches[0]["text"].split(" ")
    variant = " ".join("changed" if i % 40 == 7 else w for i, w in enumerate(words))
    assert 0.75 < jaccard(shingle_set(speeches[0]["text"]), shingle_set(variant)) < 0.82
    ingest([_jsonl(tmp_path / "a.jsonl", [*speeches, {"text": variant, "origin": "v"}])], "sotu", settings=settings)
    fuzzy = {"shingle_size": 5, "bands": 25, "rows": 8, "threshold": threshold, "seed": 1}
    outcome = _build(settings, json.dumps({"l1_fuzzy_dedup": fuzzy}))
    assert outcome.success
    marked = query(
        settings, "SELECT count(*) FROM tiers.l1_clean WHERE list_contains(reject_reasons, 'near_duplicate')"
    )
    assert marked == [(1 if threshold == 0.7 else 0,)]


def test_a_648_kb_document_publishes_l1_rejected_as_too_long(settings, corpus, tmp_path):
    """One valid, very long English document is data L1 holds, not a reason to stop every tier."""
    speeches = _speeches(corpus, 40)
    long = "\n\n".join(s["text"] for s in speeches)[:648_000]
    long = long[: long.rindex(". ") + 1]
    ingest([_jsonl(tmp_path / "a.jsonl", [*speeches[:3], {"text": long, "origin": "long"}])], "sotu", settings=settings)
    outcome = _build(settings)
    assert outcome.success, outcome.record
    assert {m["status"] for m in outcome.record["models"].values() if "status" in m} <= {"published", "unchanged"}
    row = query(settings, "SELECT n_chars, kept, list_contains(reject_reasons, 'too_long') FROM tiers.l1_clean "
                          "WHERE n_chars > 500000")  # fmt: skip
    assert row == [(len(long), False, True)]  # (Gopher's own word limit rejects it too)
    kept = query(settings, "SELECT count(*) FROM tiers.l1_clean WHERE kept")[0][0]
    assert kept >= 2 and query(settings, "SELECT count(*) FROM tiers.l2_selected") == [(kept,)]


def test_code_profile_and_c4_rewrite_vars(settings, corpus):
    """l1_source_rules re-judges a source's pages with code masked; l1_c4_rewrite stores C4's kept
    lines as English L1 text (FineWeb's chain) while L0 keeps the page, and turning it off again
    restores the extracted text."""
    pages = corpus["debian_handbook"]
    ingest(pages.paths, "docs", settings=settings, pattern="en-US/sect.ap*.html", uri_prefix=pages.uri_prefix)
    published = lambda variables=None: _build(settings, variables).record["models"]["l1_clean"]["status"]  # noqa: E731
    rows = "SELECT uri, text, quality_flags, content_hash, extractor FROM tiers.l1_clean ORDER BY 1"
    assert published() == "published"
    default = {r[0]: r[1:] for r in query(settings, rows)}
    profile = "{l1_source_rules: {docs: {mask_code: true}}}"
    assert published(profile) == "published"
    masked = {r[0]: r[1:] for r in query(settings, rows)}
    for uri, (text, found, *_) in masked.items():
        assert text == default[uri][0] and found == flag_texts([text], ['{"mask_code": true}'])[0], uri
    assert sum("```" in text for text, *_ in masked.values()) >= 4  # code came through as fences
    rescued = [uri for uri in masked if default[uri][1] and not masked[uri][1]]
    assert len(rescued) >= 3  # code-heavy pages that only the prose rules' view of code rejected

    assert published("{l1_c4_rewrite: true, l1_source_rules: {docs: {mask_code: true}}}") == "published"
    chained = {r[0]: r[1:] for r in query(settings, rows)}
    content = dict(query(settings, "SELECT uri, content FROM tiers.l0_raw"))
    for uri, (text, found, content_hash, extractor) in chained.items():
        rules = configured_rules('{"mask_code": true}')
        assert (text, found) == chain(extract_html(content[uri]).text, rules, mask_code=True), uri
        assert content_hash == identity.content_hash(text) and "+c4chain-1@" in extractor
    changed = [uri for uri in chained if chained[uri][0] != masked[uri][0]]
    assert len(changed) >= 3 and all("```" not in chained[uri][0] for uri in changed)  # C4 keeps no code
    assert published(profile) == "published"  # off again: every row re-extracted, the text restored
    assert {r[0]: r[1:] for r in query(settings, rows)} == masked

"""Every class of bad input lands in ops.quarantine with file, place, reason and raw bytes: nothing is lost."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import query

from warehouse.cli import main
from warehouse.ingest import ingest


def quarantined(settings) -> list[tuple]:
    return query(
        settings,
        "SELECT file, location, reason, message, raw, raw_sha256, raw_length, raw_complete "
        "FROM ops.quarantine ORDER BY file, location",
    )


def assert_kept(row: tuple, raw: bytes) -> None:
    """The quarantine row holds the exact bytes with a matching hash and length."""
    assert row[4] == raw
    assert row[5] == hashlib.sha256(raw).hexdigest()
    assert row[6] == len(raw) and row[7] is True


GOOD = b'{"text": "A perfectly good document about the weather."}\n'


@pytest.mark.parametrize(
    ("bad_line", "reason", "message_part"),
    [
        (b'{"text": "unterminated', "invalid_json", "invalid JSON"),
        (b'{"text": "caf\xe9 au lait"}', "invalid_utf8", "invalid UTF-8 at byte 13"),
        (b'{"body": "no text field here"}', "missing_text", "no 'text' field"),
        (b'{"text": "   "}', "empty_text", "'text' is empty"),
        (b'{"text": 42}', "non_string_text", "'text' is int"),
        (b'{"text": null}', "non_string_text", "'text' is null"),
        (b'["text", "an array"]', "not_an_object", "not an object"),
    ],
)
def test_bad_jsonl_line_is_quarantined_and_neighbours_kept(settings, tmp_path, bad_line, reason, message_part):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(GOOD + bad_line + b"\n" + b'{"text": "Another good one."}\n')
    summary = ingest([path], "mixed", settings=settings)
    assert (summary.read, summary.ingested, summary.quarantined) == (3, 2, 1)
    assert summary.balanced and summary.by_reason == {reason: 1}
    [row] = quarantined(settings)
    assert row[0] == path.absolute().as_uri() and row[1] == "line 2" and row[2] == reason
    assert message_part in row[3]
    assert_kept(row, bad_line)


def test_record_over_size_limit(settings, tmp_path):
    big = b'{"text": "' + b"x" * 5000 + b'"}'
    path = tmp_path / "big.jsonl"
    path.write_bytes(GOOD + big + b"\n")
    summary = ingest([path], "big", settings=settings.with_overrides(max_record_bytes=1000))
    assert (summary.ingested, summary.by_reason) == (1, {"record_too_large": 1})
    [row] = quarantined(settings)
    assert row[1] == "line 2" and "exceeds the 1000-byte record limit" in row[3]
    assert row[4] == big[:1000] and row[6] == len(big) and row[7] is False  # a prefix, flagged as such


def test_line_longer_than_a_read_chunk_is_bounded(settings, tmp_path):
    huge = b'{"text": "' + b"y" * (3 << 20) + b'"}'  # spans several 1 MiB chunks
    path = tmp_path / "huge.jsonl"
    path.write_bytes(huge + b"\n" + GOOD)
    summary = ingest([path], "huge", settings=settings.with_overrides(max_record_bytes=64 * 1024))
    assert (summary.read, summary.ingested, summary.by_reason) == (2, 1, {"record_too_large": 1})
    [row] = quarantined(settings)
    assert row[1] == "line 1" and row[6] == len(huge) and len(row[4]) == 64 * 1024


def test_truncated_gzip_keeps_every_complete_line(settings, tmp_path):
    lines = [orjson.dumps({"text": f"document number {i} with some words"}) + b"\n" for i in range(2000)]
    data = gzip.compress(b"".join(lines))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    summary = ingest([path], "cut", settings=settings)
    assert summary.by_reason == {"truncated_stream": 1} and summary.balanced
    ingested = summary.ingested
    assert 0 < ingested < 2000
    [row] = quarantined(settings)
    assert row[1] == f"line {ingested + 1}" and "ends without its end-of-stream marker" in row[3]
    # the quarantined tail is exactly the start of the first line that did not make it
    assert lines[ingested].startswith(row[4])
    texts = {r[0] for r in query(settings, "SELECT content FROM tiers.l0_raw")}
    assert texts == {f"document number {i} with some words" for i in range(ingested)}


def test_unreadable_and_empty_files(settings, tmp_path):
    missing = tmp_path / "nowhere.jsonl"
    empty_jsonl = tmp_path / "empty.jsonl"
    empty_jsonl.write_bytes(b"")
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "ok.txt").write_text("Some real text.")
    summary = ingest([missing, empty_jsonl, folder], "files", settings=settings)
    assert summary.ingested == 1 and summary.balanced
    assert summary.by_reason == {"unreadable_file": 1, "empty_file": 2}
    rows = {Path(r[0]).name: r for r in quarantined(settings)}
    assert rows["nowhere.jsonl"][2] == "unreadable_file" and "FileNotFoundError" in rows["nowhere.jsonl"][3]
    assert rows["empty.jsonl"][2] == "empty_file" and rows["empty.txt"][2] == "empty_file"


def test_binary_file_in_text_directory(settings, tmp_path, handbook_root):
    folder = tmp_path / "docs"
    folder.mkdir()
    png = next((handbook_root / "en-US" / "images").glob("*.png")).read_bytes()
    (folder / "figure.png").write_bytes(png)
    (folder / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (folder / "fine.txt").write_text("An ordinary text file.")
    summary = ingest([folder], "docs", settings=settings, fmt="text")
    assert summary.ingested == 1 and summary.by_reason == {"binary_file": 1, "invalid_utf8": 1}
    rows = {Path(r[0]).name: r for r in quarantined(settings)}
    assert_kept(rows["figure.png"], png)
    assert_kept(rows["latin1.txt"], "Caf\xe9 cr\xe8me".encode("latin-1"))


def test_parquet_wrong_schema_and_corrupt_file(settings, tmp_path):
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"body": ["text lives elsewhere"], "n": [1]}), wrong)
    numeric = tmp_path / "numeric.parquet"
    pq.write_table(pa.table({"text": [1, 2, 3]}), numeric)
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not really parquet")
    nulls = tmp_path / "nulls.parquet"
    pq.write_table(pa.table({"text": ["kept document", None, ""], "k": [1, 2, 3]}), nulls)
    summary = ingest([wrong, numeric, corrupt, nulls], "pq", settings=settings)
    assert summary.ingested == 1 and summary.balanced
    assert summary.by_reason == {"parquet_schema": 2, "unreadable_file": 1, "non_string_text": 1, "empty_text": 1}
    rows = {(Path(r[0]).name, r[1]): r for r in quarantined(settings)}
    assert "no column 'text'" in rows[("wrong.parquet", "file")][3]
    assert "not a string" in rows[("numeric.parquet", "file")][3]
    assert_kept(rows[("wrong.parquet", "file")], wrong.read_bytes())
    assert_kept(rows[("corrupt.parquet", "file")], corrupt.read_bytes())
    assert orjson.loads(rows[("nulls.parquet", "row 1")][4]) == {"text": None, "k": 2}


def test_cli_reports_counts_examples_and_exit_code(settings, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"not json at all\n{broken\n")
    runner = CliRunner()
    result = runner.invoke(main, ["ingest", str(bad), "--source", "junk"])
    assert result.exit_code == 1, result.output  # nothing could be read
    assert "invalid_json × 2" in result.output and "line 1" in result.output
    good = tmp_path / "good.jsonl"
    good.write_bytes(GOOD + b"not json\n")
    result = runner.invoke(main, ["ingest", str(good), "--source", "junk", "--json"])
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.output)
    assert (data["read"], data["ingested"], data["quarantined"]) == (2, 1, 1)
    assert data["examples"]["invalid_json"]["location"] == "line 2"
    # re-reading the same bad input adds no second quarantine row
    again = ingest([good], "junk", settings=settings)
    assert again.quarantined == 1 and again.quarantine_rows_added == 0
    assert query(settings, "SELECT count(*) FROM ops.quarantine") == [(3,)]

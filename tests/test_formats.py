"""Each input format lands in tiers.l0_raw with identity, provenance and extra fields intact."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
import zstandard
from conftest import query
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from udfs.identity import normalise_text
from warehouse.ingest import ingest
from warehouse.ingest.readers import detect_format


def sotu_records(sotu_root: Path, n: int = 40) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sotu_root.glob("*.json"))[:n]]


def write_jsonl(path: Path, records: list[dict]) -> bytes:
    data = b"".join(orjson.dumps(r) + b"\n" for r in records)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    elif path.suffix == ".zst":
        path.write_bytes(zstandard.ZstdCompressor().compress(data))
    else:
        path.write_bytes(data)
    return data


def test_detect_format_by_name():
    assert detect_format(Path("a/crawl.jsonl.zst")) == "jsonl"
    assert detect_format(Path("x.warc.gz")) == "warc"
    assert detect_format(Path("page.HTML")) == "html"
    assert detect_format(Path("t.parquet")) == "parquet"
    assert detect_format(Path("notes.md")) == "text"
    assert detect_format(Path("README")) == "text"


def test_jsonl_keeps_text_identity_and_extra_fields(settings, sotu_root, tmp_path):
    records = sotu_records(sotu_root)
    path = tmp_path / "sotu.jsonl"
    write_jsonl(path, records)
    summary = ingest([path], "sotu", settings=settings)
    assert (summary.read, summary.ingested, summary.quarantined) == (40, 40, 0)
    rows = query(settings, "SELECT doc_id, uri, content, extra, content_type FROM tiers.l0_raw ORDER BY uri")
    by_line = {int(uri.rsplit("=", 1)[1]): (d, c, e, t) for d, uri, c, e, t in rows}
    first = records[0]
    doc, content, extra, ctype = by_line[1]
    assert content == first["text"] and ctype == "text/plain"
    assert doc == xxhash.xxh3_128_hexdigest(normalise_text(first["text"]).encode())
    assert json.loads(extra) == {"year": first["year"], "name": first["name"], "party": first["party"]}


def test_compressed_jsonl_matches_plain(settings, sotu_root, tmp_path):
    records = sotu_records(sotu_root, 25)
    for name in ("a.jsonl", "b.jsonl.gz", "c.jsonl.zst"):
        write_jsonl(tmp_path / name, records)
    plain = ingest([tmp_path / "a.jsonl"], "sotu", settings=settings)
    gz = ingest([tmp_path / "b.jsonl.gz"], "sotu", settings=settings)
    zst = ingest([tmp_path / "c.jsonl.zst"], "sotu", settings=settings)
    assert plain.ingested == 25
    # identical content under any compression is the same documents: counted, not stored again
    assert (gz.ingested, gz.duplicates_in_l0) == (0, 25)
    assert (zst.ingested, zst.duplicates_in_l0) == (0, 25)
    assert query(settings, "SELECT count(*) FROM tiers.l0_raw") == [(25,)]


def test_text_and_id_field_mapping(settings, tmp_path):
    path = tmp_path / "foreign.jsonl"
    write_jsonl(path, [{"body": "first document body", "uid": 7, "lang": "en"}, {"body": "second one", "uid": "x9"}])
    summary = ingest([path], "foreign", settings=settings, text_field="body", id_field="uid")
    assert summary.ingested == 2
    rows = query(settings, "SELECT source_id, content, extra FROM tiers.l0_raw ORDER BY source_id")
    assert rows == [("7", "first document body", '{"lang":"en"}'), ("x9", "second one", None)]


def test_parquet_rows_with_extra_columns(settings, corpus, tmp_path):
    with gzip.open(corpus["fortunes"].paths[0]) as fh:
        records = [orjson.loads(next(fh)) for _ in range(300)]
    table = pa.table(
        {
            "text": [r["text"] for r in records],
            "fid": list(range(300)),
            "lang": [r["lang_hint"] for r in records],
        }
    )
    path = tmp_path / "fortunes.parquet"
    pq.write_table(table, path, row_group_size=64)
    unique = len({normalise_text(r["text"]) for r in records})
    summary = ingest([path], "fortunes", settings=settings, id_field="fid")
    assert summary.read == 300 and summary.ingested == unique and summary.duplicates == 300 - unique
    rows = query(settings, "SELECT source_id, content, extra, uri FROM tiers.l0_raw WHERE source_id = '0'")
    assert rows[0][1] == records[0]["text"]
    assert json.loads(rows[0][2]) == {"lang": records[0]["lang_hint"]}
    assert rows[0][3].endswith("fortunes.parquet#row=0")


def test_text_directory_one_doc_per_file(settings, sotu_root, tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    txts = sorted(sotu_root.glob("*.txt"))[:12]
    for p in txts:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "notes.md").write_text("# Notes\n\nA markdown file is a document too.\n")
    summary = ingest([folder], "texts", settings=settings)
    assert (summary.files, summary.ingested) == (13, 13)
    types = dict(query(settings, "SELECT content_type, count(*) FROM tiers.l0_raw GROUP BY 1"))
    assert types == {"text/plain": 12, "text/markdown": 1}
    name = txts[0].name
    rows = query(settings, "SELECT content FROM tiers.l0_raw WHERE uri LIKE ?", [f"%/{name}"])
    assert rows == [(txts[0].read_text(),)]


def test_html_file_and_directory(settings, handbook_root):
    english = handbook_root / "en-US"
    single = ingest([english / "apt.html"], "handbook", settings=settings)
    assert single.ingested == 1
    folder = ingest([english], "handbook", settings=settings, pattern="*.html")
    pages = sorted(english.rglob("*.html"))
    assert folder.read == len(pages) and folder.ingested == len(pages) - 1 and folder.duplicates_in_l0 == 1
    raw = (english / "apt.html").read_bytes()
    rows = query(settings, "SELECT doc_id, content_type, content FROM tiers.l0_raw WHERE uri LIKE '%/en-US/apt.html'")
    assert rows == [(xxhash.xxh3_128_hexdigest(raw), "text/html", raw.decode())]


def build_warc(path: Path, pages: list[Path], extra_records: list[tuple[str, str, bytes]] = ()) -> None:
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        items = [
            (f"https://debian-handbook.info/browse/{p.parent.name}/{p.name}", "text/html", p.read_bytes())
            for p in pages
        ]
        for uri, ctype, body in [*items, *extra_records]:
            headers = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=headers)
            )


def test_warc_responses_keep_target_uri_and_raw_html(settings, handbook_root, tmp_path):
    pages = sorted((handbook_root / "fr-FR").glob("*.html"))[:20]
    png = (handbook_root / "fr-FR" / "images").iterdir().__next__().read_bytes()
    warc = tmp_path / "crawl.warc.gz"
    build_warc(warc, pages, [("https://debian-handbook.info/logo.png", "image/png", png)])
    summary = ingest([warc], "crawl", settings=settings)
    assert (summary.read, summary.ingested, summary.quarantined) == (21, 20, 1)
    assert summary.by_reason == {"unsupported_content_type": 1}
    rows = query(settings, "SELECT uri, doc_id, content, extra FROM tiers.l0_raw ORDER BY uri")
    first = next(r for r in rows if r[0].endswith(f"/fr-FR/{pages[0].name}"))
    assert first[1] == xxhash.xxh3_128_hexdigest(pages[0].read_bytes())
    assert first[2] == pages[0].read_text()
    meta = json.loads(first[3])
    assert meta["http_status"] == 200 and meta["warc_file"].endswith("crawl.warc.gz")
    # the same page read as a plain HTML file is the same document
    again = ingest([pages[0]], "handbook", settings=settings)
    assert (again.ingested, again.duplicates_in_l0) == (0, 1)
    stored = query(settings, "SELECT raw, raw_length, file FROM ops.quarantine")
    assert stored == [(png, len(png), warc.absolute().as_uri())]

"""MediaWiki XML dumps: real Wikipedia pages (gensim's test dumps, from PyPI) read into L0 as plain text.

Expected counts come from parsing the same XML independently with ElementTree, never from the reader.
"""

from __future__ import annotations

import bz2
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import mwparserfromhell
import orjson
import pytest
from click.testing import CliRunner
from conftest import query

from warehouse.cli import main
from warehouse.config import load_settings
from warehouse.corpus import package_dir
from warehouse.ingest import ingest
from warehouse.ingest.mediawiki.wikitext import WikitextConverter, _without_tables
from warehouse.ingest.readers import READERS, ReadOptions, detect_format
from warehouse.ingest.records import Document, Skip

EXPORT_NS = "{http://www.mediawiki.org/xml/export-0.10/}"
LINK_ITEM = re.compile(r"^\* \[\[([^\]|:#]+)\]\]$", re.MULTILINE)
MARKUP = ("{{", "}}", "[[", "]]", "{|", "|}", "<ref", "'''", "[http", "thumb|")


@pytest.fixture(scope="module")
def dumps() -> Path:
    """The folder of real dump excerpts inside gensim 4.4.0's wheel (fetched once, sha256-checked)."""
    return package_dir("gensim", load_settings().cache_dir) / "gensim" / "test" / "test_data"


@pytest.fixture(scope="module")
def enwiki(dumps: Path) -> Path:
    return dumps / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def pages_of(xml: bytes) -> list[dict]:
    """Each page's title, namespace, redirect flag and wikitext, by ElementTree (the test's own reading)."""
    pages = []
    for page in ET.fromstring(xml).iter(EXPORT_NS + "page"):
        text = page.find(f"{EXPORT_NS}revision/{EXPORT_NS}text")
        pages.append(
            {
                "title": page.findtext(EXPORT_NS + "title"),
                "ns": int(page.findtext(EXPORT_NS + "ns")),
                "id": page.findtext(EXPORT_NS + "id"),
                "redirect": page.find(EXPORT_NS + "redirect") is not None,
                "text": text.text or "",
            }
        )
    return pages


@pytest.fixture(scope="module")
def enwiki_lake(enwiki: Path, tmp_path_factory: pytest.TempPathFactory):
    """The English dump ingested once into a fresh lake: (settings, summary, the decompressed XML)."""
    settings = load_settings(tmp_path_factory.mktemp("wiki") / "lake")
    summary = ingest([enwiki], "enwiki", settings=settings)
    return settings, summary, bz2.decompress(enwiki.read_bytes())


def test_dump_is_recognised_by_its_root_element_not_its_name(dumps, enwiki, tmp_path):
    # the real file's name ends in ".xml-p000000010p000030302-shortened.bz2": only its content says dump
    assert detect_format(enwiki) == "mediawiki"
    renamed = tmp_path / "pages.dat.bz2"
    shutil.copy(dumps / "enwiki-table-markup.xml.bz2", renamed)
    assert detect_format(renamed) == "mediawiki"
    plain = tmp_path / "export.xml"
    plain.write_bytes(bz2.decompress(renamed.read_bytes()))
    assert detect_format(plain) == "mediawiki"
    # the Bulgarian excerpt is UTF-16 with a byte-order mark
    assert detect_format(dumps / "bgwiki-latest-pages-articles-shortened.xml.bz2") == "mediawiki"
    other = tmp_path / "feed.xml"
    other.write_text('<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>\n')
    assert detect_format(other) == "text"


def test_utf16_dump_drops_links_by_its_local_namespace_names(dumps):
    path = dumps / "bgwiki-latest-pages-articles-shortened.xml.bz2"
    xml = bz2.decompress(path.read_bytes())
    assert xml.startswith(b"\xff\xfe") and "[[Категория:".encode("utf-16-le") in xml
    items = list(READERS["mediawiki"].read(path, "bgwiki", ReadOptions()))
    pages = pages_of(xml)
    docs = [i for i in items if isinstance(i, Document)]
    assert len(docs) == sum(p["ns"] == 0 and not p["redirect"] for p in pages) >= 1
    assert [i.reason for i in items if isinstance(i, Skip)] == ["non_article_namespace"] * sum(
        p["ns"] != 0 for p in pages
    )
    assert not [d for d in docs if "Категория:" in d.content or "Файл:" in d.content]
    assert docs[0].content.startswith("Григорианският календар")


def test_real_dump_summary_balances_with_skips_by_reason(enwiki_lake):
    _, summary, xml = enwiki_lake
    pages = pages_of(xml)
    articles = [p for p in pages if p["ns"] == 0 and not p["redirect"]]
    assert summary.read == len(pages)
    assert summary.skipped_by_reason == {
        "redirect": sum(p["ns"] == 0 and p["redirect"] for p in pages),
        "non_article_namespace": sum(p["ns"] != 0 for p in pages),
    }
    assert summary.ingested == len(articles) and summary.quarantined == 0 and summary.balanced
    assert summary.read == summary.ingested + summary.duplicates + summary.quarantined + summary.skipped


def test_articles_become_plain_text_with_provenance(enwiki_lake, enwiki):
    settings, _, xml = enwiki_lake
    by_id = {p["id"]: p for p in pages_of(xml)}
    rows = query(settings, "SELECT uri, source_id, content_type, content, extra FROM tiers.l0_raw")
    assert rows and all(r[2] == "text/plain" for r in rows)
    for uri, source_id, _, content, extra in rows:
        meta = orjson.loads(extra)
        page = by_id[source_id]
        assert uri == f"{enwiki.absolute().as_uri()}#page={source_id}" and meta["dump"] == enwiki.absolute().as_uri()
        assert (meta["title"], meta["namespace"], meta["page_id"]) == (page["title"], 0, source_id)
        assert meta["revision_id"].isdigit() and meta["wiki"] == "enwiki"
        assert meta["url"] == "https://en.wikipedia.org/wiki/" + page["title"].replace(" ", "_")
        # the offset is where this page's element starts in the decompressed XML
        assert xml[meta["dump_offset"] :].startswith(b"<page>")
        assert f"<id>{source_id}</id>".encode() in xml[meta["dump_offset"] : meta["dump_offset"] + 2000]
        assert not [m for m in MARKUP if m in content], (page["title"], [m for m in MARKUP if m in content])
    anarchism = next(r[3] for r in rows if orjson.loads(r[4])["title"] == "Anarchism")
    lines = anarchism.split("\n")
    # headings stay as their own lines; the prose of the lead survives, link targets become their labels
    assert "History" in lines and "Etymology and terminology" in lines
    assert lines[0].startswith("Anarchism is a political philosophy that advocates self-governed societies")


def test_wikitext_conversion_drops_markup_keeps_lists_and_infobox_facts(enwiki_lake):
    _, _, xml = enwiki_lake
    page = next(p for p in pages_of(xml) if "{{Infobox" in p["text"] and LINK_ITEM.search(p["text"]))
    plain, facts = WikitextConverter({6: "File", 14: "Category"}, infobox=True).convert(page["text"])
    # a list item that is one plain link becomes a line of its own: the link's text, no bullet
    items = LINK_ITEM.findall(page["text"])
    assert items and all(item.strip() in plain.split("\n") for item in items)
    assert "Category:" not in plain and "File:" not in plain and "{{" not in plain
    assert facts and facts["infobox"] and len(facts) > 2
    assert not [v for v in facts.values() if any(m in v for m in MARKUP)]
    # without the option no facts are kept, and the text is the same
    assert WikitextConverter({6: "File", 14: "Category"}).convert(page["text"]) == (plain, None)


def multistream(xml: bytes, pages: int) -> tuple[bytes, list[int]]:
    """The dump recompressed as Wikipedia's multistream files are: header, then one bz2 stream per page.

    Returns the bytes and the compressed offset where each page's stream begins."""
    starts = [m.start() for m in re.finditer(rb"  <page>", xml)][:pages]
    cuts = [0, *starts, len(xml)]
    out, offsets = b"", []
    for a, b in zip(cuts, cuts[1:], strict=False):
        offsets.append(len(out))
        out += bz2.compress(xml[a:b])
    return out, offsets[1:]


def test_truncated_bz2_keeps_whole_pages_and_quarantines_the_cut(dumps, settings, tmp_path):
    xml = bz2.decompress((dumps / "enwiki-table-markup.xml.bz2").read_bytes())
    pages = pages_of(xml)
    data, offsets = multistream(xml, len(pages))
    cut = tmp_path / "enwiki-cut.xml.bz2"
    cut.write_bytes(data[: offsets[3] + (offsets[4] - offsets[3]) // 2])  # halfway into the 4th page's stream
    summary = ingest([cut], "cut", settings=settings)
    assert (summary.read, summary.ingested, summary.quarantined) == (4, 3, 1) and summary.balanced
    titles = {orjson.loads(e)["title"] for (e,) in query(settings, "SELECT extra FROM tiers.l0_raw")}
    assert titles == {p["title"] for p in pages[:3]}
    [row] = query(settings, "SELECT file, location, reason, message, raw FROM ops.quarantine")
    file, location, reason, message, raw = row
    assert file == cut.absolute().as_uri() and reason == "truncated_stream"
    # bzip2 yields nothing of a block it has not wholly read: the XML stops where page 4 would begin
    fourth = [m.start() for m in re.finditer(rb"  <page>", xml)][3]
    assert location == f"byte {fourth}" and raw == b""
    assert f"bzip2 stream ends without its end-of-stream marker at compressed byte {cut.stat().st_size}" in message
    assert "3 whole pages were read before the cut" in message
    # the complete multistream file reads whole: concatenated streams are one dump
    whole = tmp_path / "enwiki-multistream.xml.bz2"
    whole.write_bytes(data)
    again = ingest([whole], "cut", settings=settings)
    assert (again.read, again.ingested, again.duplicates_in_l0, again.quarantined) == (5, 2, 3, 0)


def test_malformed_and_foreign_xml_is_quarantined_with_place(dumps, settings, tmp_path):
    xml = bz2.decompress((dumps / "enwiki-table-markup.xml.bz2").read_bytes())
    second = xml.index(b"<page>", xml.index(b"</page>"))
    broken = tmp_path / "broken.xml"
    bad = b"<page><title>x</page>"
    broken.write_bytes(xml[:second] + bad + xml[second:])
    summary = ingest([broken], "broken", settings=settings)
    assert summary.ingested == 1 and summary.by_reason == {"invalid_xml": 1} and summary.balanced
    [(location, message, raw)] = query(settings, "SELECT location, message, raw FROM ops.quarantine")
    assert raw.startswith(bad + xml[second : second + 10])  # the page the fault is in, from its start
    assert location.startswith("byte ") and second < int(location.split()[1]) < second + len(bad)
    assert "mismatched tag" in message and "1 whole pages were read before it" in message
    # a plain dump that stops inside a page: the page before is kept, the torn one quarantined whole
    torn = tmp_path / "torn.xml"
    torn.write_bytes(xml[: second + 300])
    cut = ingest([torn], "torn", settings=settings)
    assert (cut.ingested, cut.duplicates_in_l0, cut.by_reason) == (0, 1, {"truncated_stream": 1})
    assert cut.examples["truncated_stream"]["location"] == f"page 2 at byte {second}"
    [(raw,)] = query(settings, "SELECT raw FROM ops.quarantine WHERE reason = 'truncated_stream'")
    assert raw == xml[second : second + 300]
    feed = tmp_path / "feed.xml"
    feed.write_text("<rss><channel/></rss>")
    forced = ingest([feed], "feed", settings=settings, fmt="mediawiki")
    assert forced.by_reason == {"invalid_xml": 1} and forced.examples["invalid_xml"]["message"].startswith(
        "root element is <rss>, not <mediawiki>"
    )


def test_cli_prints_skipped_and_the_balanced_summary(enwiki_lake, settings, tmp_path):
    xml = enwiki_lake[2]
    head = tmp_path / "head.xml"  # the dump's first six pages: redirects among them
    head.write_bytes(xml[: [m.start() for m in re.finditer(rb"  <page>", xml)][6]] + b"</mediawiki>\n")
    result = CliRunner().invoke(main, ["ingest", str(head), "--source", "enwiki", "--json"], catch_exceptions=False)
    data = orjson.loads(result.output)
    assert data["skipped"] == sum(data["skipped_by_reason"].values()) > 0
    assert data["read"] == data["ingested"] + data["duplicates"] + data["quarantined"] + data["skipped"]
    table = CliRunner().invoke(main, ["ingest", str(head), "--source", "enwiki"], catch_exceptions=False)
    # a dump of nothing but a redirect was read: exit 0, not "nothing could be read"
    redirect = tmp_path / "redirect.xml"
    starts = [m.start() for m in re.finditer(rb"  <page>", xml)]
    redirect.write_bytes(xml[: starts[1]] + b"</mediawiki>\n")
    only = CliRunner().invoke(main, ["ingest", str(redirect), "--source", "r", "--json"], catch_exceptions=False)
    assert only.exit_code == 0 and orjson.loads(only.output)["skipped_by_reason"] == {"redirect": 1}
    assert "skipped (redirects, non-articles)" in table.output and "skipped redirect ×" in table.output


def test_page_over_the_record_limit_is_quarantined_not_held(dumps, settings, tmp_path):
    path = dumps / "enwiki-table-markup.xml.bz2"
    sizes = [len(p["text"].encode()) for p in pages_of(bz2.decompress(path.read_bytes()))]
    limit = sorted(sizes)[len(sizes) // 2]  # the median page fits, the larger ones do not
    summary = ingest([path], "big", settings=settings.with_overrides(max_record_bytes=limit))
    over = [s for s in sizes if s > limit]
    assert over and summary.by_reason == {"record_too_large": len(over)} and summary.balanced
    rows = query(settings, "SELECT octet_length(raw), raw_length, raw_complete FROM ops.quarantine ORDER BY raw_length")
    # the first ``limit`` bytes are kept (less the last character if the limit splits it)
    assert [(size, False) for size in sorted(over)] == [r[1:] for r in rows]
    assert all(limit - 4 < r[0] <= limit for r in rows)


def test_tables_left_as_text_by_malformed_markup_are_removed_unless_unclosed(enwiki_lake):
    alabama = next(p["text"] for p in pages_of(enwiki_lake[2]) if p["title"] == "Alabama")
    converter = WikitextConverter()
    # in the whole page the parser gives up on the religion table and leaves its markup as text
    assert '{| class="wikitable sortable" font-size:80%' in converter._render(mwparserfromhell.parse(alabama))
    text, _ = converter.convert(alabama)
    assert "{|" not in text and "|}" not in text
    assert "Alabama is located in the middle of the Bible Belt" in text  # the prose after the table stays
    # a table that never closes is kept rather than dropping the rest of the page
    assert _without_tables("Before.\n{| x\n| cell\n|}\nAfter.\n{| open\nTail.") == "Before.\nAfter.\n{| open\nTail."

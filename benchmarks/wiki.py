"""Wikipedia dumps: which wikitext parser, how fast a dump ingests, and how much of it L1 keeps.

    .venv/bin/pip install -e '.[bench]'      # wikitextparser, the parser measured against
    flock /work/cpu.lock .venv/bin/python benchmarks/wiki.py

Data: the real English Wikipedia excerpt in gensim 4.4.0's wheel (PyPI; fetched and checked by
the corpus code): 206 pages, 106 of them articles, 6.1 MB of XML in 1.7 MB of bzip2.

parsers: both parsers turn every article's wikitext into plain text under the same policy (drop
         templates, references, tables, file and category links; keep link labels, headings and
         list items). Reported: pages/s, MB of wikitext/s, and markup left per million characters.
ingest:  ``tierhouse ingest`` of the dump into a fresh lake: pages/s, MB/s of bzip2 and of XML.
l1:      ``tierhouse build --select l1_clean`` over that lake: the share of articles kept, and
         the rules that reject the others.
"""

from __future__ import annotations

import argparse
import bz2
import json
import platform
import re
import resource
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from warehouse.build import run_build  # noqa: E402
from warehouse.config import load_settings  # noqa: E402
from warehouse.corpus import package_dir  # noqa: E402
from warehouse.ingest import ingest  # noqa: E402
from warehouse.ingest.mediawiki.wikitext import WikitextConverter  # noqa: E402
from warehouse.query import connect  # noqa: E402

DUMP = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
NS = "{http://www.mediawiki.org/xml/export-0.10/}"
# what plain text should not hold: template, link, table, reference and emphasis markup, list bullets
RESIDUE = re.compile(r"\{\{|\}\}|\[\[|\]\]|\{\||\|\}|<ref|</?[a-z]+[ >/]|''|^=+ |^[*#] |\[https?:|thumb\|", re.M)
NAMESPACES = {6: "File", 14: "Category"}


def articles(xml: bytes) -> list[str]:
    """Wikitext of every article (namespace 0, not a redirect)."""
    out = []
    for page in ET.fromstring(xml).iter(NS + "page"):
        if page.findtext(NS + "ns") == "0" and page.find(NS + "redirect") is None:
            out.append(page.findtext(f"{NS}revision/{NS}text") or "")
    return out


def wikitextparser_text(wikitext: str) -> str:
    """The same policy with wikitextparser: delete what is dropped, then its own ``plain_text``."""
    import wikitextparser as wtp

    from warehouse.ingest.mediawiki.wikitext import _DROPPED_TAGS, _tidy

    parsed = wtp.parse(wikitext)
    doomed = [t for t in parsed.get_tags() if t.name.lower() in _DROPPED_TAGS]
    doomed += [
        w for w in parsed.wikilinks if w.title.partition(":")[0].strip().lower() in {"file", "image", "category"}
    ]
    doomed += parsed.tables
    for node in sorted(doomed, key=lambda n: -n.span[0]):
        try:
            del node.string
        except (IndexError, ValueError, TypeError):
            continue  # inside something already deleted
    return _tidy(parsed.plain_text(replace_tables=False))


def measure_parsers(texts: list[str]) -> list[dict]:
    ours = WikitextConverter(NAMESPACES)
    rows = []
    for name, convert in (
        ("mwparserfromhell 0.7.2", lambda t: ours.convert(t)[0]),
        ("wikitextparser 3.0.0", wikitextparser_text),
    ):
        started = time.perf_counter()
        outs = [convert(t) for t in texts]
        seconds = time.perf_counter() - started
        chars = sum(map(len, outs))
        residue = sum(len(RESIDUE.findall(o)) for o in outs)
        rows.append(
            {
                "parser": name,
                "pages_per_s": round(len(texts) / seconds, 1),
                "wikitext_mb_per_s": round(sum(map(len, texts)) / 1e6 / seconds, 2),
                "chars_out": chars,
                "residue_per_mchar": round(residue / chars * 1e6, 1),
            }
        )
    return rows


def measure_ingest_and_l1(dump: Path, xml_bytes: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(Path(tmp) / "lake")
        summary = ingest([dump], "enwiki", settings=settings, show_progress=False)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        outcome = run_build(settings, select=["l1_clean"], quiet=True)
        con = connect(settings)
        kept, total = con.execute(
            "SELECT count(*) FILTER (WHERE kept), count(*) FROM tiers.l1_clean WHERE source = 'enwiki'"
        ).fetchone()
        reasons = con.execute(
            "SELECT r, count(*) FROM (SELECT unnest(reject_reasons) AS r FROM tiers.l1_clean "
            "WHERE source = 'enwiki') GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    return {
        "pages": summary.read,
        "ingested": summary.ingested,
        "skipped": summary.skipped_by_reason,
        "seconds": round(summary.seconds, 2),
        "pages_per_s": round(summary.read / summary.seconds, 1),
        "articles_per_s": round(summary.ingested / summary.seconds, 1),
        "bz2_mb_per_s": round(summary.bytes_read / 1e6 / summary.seconds, 2),
        "xml_mb_per_s": round(xml_bytes / 1e6 / summary.seconds, 2),
        "peak_rss_mb_after_ingest": rss_mb,
        "build_ok": outcome.success,
        "l1_kept": kept,
        "l1_rows": total,
        "l1_reject_reasons": dict(Counter(dict(reasons)).most_common(8)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["parsers", "ingest"], help="Run one part.")
    parser.add_argument("--out", type=Path, help="Also write the report (JSON) to this file.")
    args = parser.parse_args()
    dump = package_dir("gensim", load_settings().cache_dir) / DUMP
    xml = bz2.decompress(dump.read_bytes())
    report: dict = {"machine": f"{platform.node()} {platform.processor() or platform.machine()}"}
    report["date"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if args.only in (None, "ingest"):  # first, so its peak RSS is the ingest's own
        report["ingest"] = measure_ingest_and_l1(dump, len(xml))
    if args.only in (None, "parsers"):
        report["parsers"] = measure_parsers(articles(xml))
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n")
    sys.__stdout__.write(text + "\n")  # dbt's logging may have replaced sys.stdout


if __name__ == "__main__":
    main()

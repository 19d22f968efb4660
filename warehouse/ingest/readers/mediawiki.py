"""MediaWiki XML dumps (``pages-articles.xml[.bz2|.gz|.zst]``): one plain-text document per article.

Redirects, pages outside the article namespace and non-wikitext pages are skipped with a reason
(they are well-formed, just not articles). A stream cut short keeps every page that closed
before the cut and quarantines the unfinished one as ``truncated_stream``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from warehouse.ingest.mediawiki.pages import DumpError, Page, PageParser, SiteInfo, is_mediawiki_head
from warehouse.ingest.mediawiki.wikitext import WikitextConverter
from warehouse.ingest.readers.base import Item, ReadOptions, clip, unreadable
from warehouse.ingest.readers.streams import BrokenStream, codec_of, iter_chunks
from warehouse.ingest.records import Document, Reason, Rejection, Skip, SkipReason

ARTICLE_NAMESPACE = 0
_SNIFF_BYTES = 4096


def is_mediawiki_dump(path: Path) -> bool:
    """Whether ``path`` (plain or compressed) opens with a ``<mediawiki>`` root element."""
    try:
        with path.open("rb") as fh:
            if codec_of(path) == "plain":
                return is_mediawiki_head(fh.read(_SNIFF_BYTES))
            head = next(iter_chunks(fh, codec_of(path)), b"")
    except (OSError, BrokenStream):
        return False
    return is_mediawiki_head(head[:_SNIFF_BYTES])


class _Tail:
    """The first bytes (at most ``limit``) of the page still open: what a cut or a fault quarantines."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = b""
        self.start = 0  # stream offset of data[0]: the open page's ``<page>``, or where the data ends
        self.end = 0  # stream offset after the last byte seen

    def extend(self, chunk: bytes, open_page: int | None) -> None:
        """Account for ``chunk``; ``open_page`` is the offset of the page open after it, if any."""
        chunk_start, self.end = self.end, self.end + len(chunk)
        if open_page is None:
            self.data, self.start = b"", self.end
            return
        if open_page != self.start:  # a new page opened in this chunk
            self.data, self.start = b"", open_page
        if len(self.data) < self.limit:
            self.data = (self.data + chunk[max(self.start - chunk_start, 0) :])[: self.limit]

    def evidence(self) -> tuple[bytes, int | None]:
        """The kept bytes, and their full length when the limit cut them short."""
        full = self.end - self.start
        return self.data, (full if full > len(self.data) else None)


class MediaWikiReader:
    """Streams pages with bounded memory: at most one page's text plus one input chunk."""

    name = "mediawiki"

    def read(self, path: Path, uri: str, options: ReadOptions) -> Iterator[Item]:
        try:
            fh = path.open("rb")
        except OSError as exc:
            yield unreadable(uri, exc)
            return
        with fh:
            yield from self._pages(fh, codec_of(path), uri, options)

    def _pages(self, fh, codec: str, uri: str, options: ReadOptions) -> Iterator[Item]:
        parser = PageParser(options.max_record_bytes)
        tail = _Tail(options.max_record_bytes)
        converter: WikitextConverter | None = None

        def documents(pages: Iterator[Page]) -> Iterator[Item]:
            nonlocal converter  # made at the first page, once <siteinfo> has named the namespaces
            for page in pages:
                converter = converter or WikitextConverter(parser.site.namespaces, infobox=options.wiki_infobox)
                yield self._page(page, parser.site, converter, uri, options)

        read_pos = 0
        try:
            for chunk in iter_chunks(fh, codec):
                try:
                    yield from documents(parser.feed(chunk))
                finally:  # also when the chunk broke the XML: the open page's bytes are the evidence
                    tail.extend(chunk, parser.page.offset if parser.page else None)
                pos = fh.tell()
                options.advance(pos - read_pos)
                read_pos = pos
            if not parser.seen_root:
                yield Rejection(uri, "file", Reason.EMPTY_FILE, "file holds no data", b"")
                return
        except BrokenStream as exc:
            yield self._cut(uri, parser, tail, str(exc))
            return
        except DumpError as exc:
            message = f"{exc} at XML byte {exc.offset}; {parser.pages_closed} whole pages were read before it"
            yield Rejection(uri, f"byte {exc.offset}", Reason.INVALID_XML, message, *tail.evidence())
            return
        except OSError as exc:
            yield Rejection(uri, "file", Reason.UNREADABLE_FILE, f"read failed: {exc}", b"")
            return
        try:
            yield from documents(parser.feed(b"", final=True))  # a document that never closed fails here
        except DumpError:
            yield self._cut(uri, parser, tail, "XML ends before </mediawiki>")

    @staticmethod
    def _cut(uri: str, parser: PageParser, tail: _Tail, why: str) -> Rejection:
        """The unfinished page (or the dump's unfinished end) as a ``truncated_stream`` rejection."""
        where = f"page {parser.page.number} at byte {parser.page.offset}" if parser.page else f"byte {tail.start}"
        message = f"{why}; {parser.pages_closed} whole pages were read before the cut"
        return Rejection(uri, where, Reason.TRUNCATED, message, *tail.evidence())

    @staticmethod
    def _page(page: Page, site: SiteInfo, converter: WikitextConverter, uri: str, options: ReadOptions) -> Item:
        where = f"page {page.number} at byte {page.offset}"
        label = f"{page.title!r} (page id {page.page_id})"
        if page.namespace != ARTICLE_NAMESPACE:
            name = site.namespaces.get(page.namespace, "")
            message = f"{label} is in namespace {page.namespace} {name}".rstrip()
            return Skip(uri, where, SkipReason.NON_ARTICLE_NAMESPACE, message)
        if page.redirect is not None or page.text.lstrip()[:9].upper() == "#REDIRECT":
            return Skip(uri, where, SkipReason.REDIRECT, f"{label} redirects to {page.redirect or '?'}")
        if page.model != "wikitext":
            return Skip(uri, where, SkipReason.NOT_WIKITEXT, f"{label} has content model {page.model!r}")
        limit = options.max_record_bytes
        if page.text_bytes > limit:
            message = f"{label}: wikitext of {page.text_bytes} bytes exceeds the {limit}-byte record limit"
            return Rejection(uri, where, Reason.TOO_LARGE, message, page.text.encode()[:limit], page.text_bytes)
        text, facts = converter.convert(page.text)
        if not text:
            body, full = clip(page.text.encode(), limit)
            return Rejection(uri, where, Reason.EMPTY_TEXT, f"{label} has no prose once markup is removed", body, full)
        extra = {
            "title": page.title,
            "namespace": page.namespace,
            "page_id": page.page_id,
            "revision_id": page.revision_id,
            "timestamp": page.timestamp,
            "wiki": site.dbname or None,
            "url": site.article_url(page.title),
            "dump": uri,
            "dump_offset": page.offset,
        }
        if facts is not None:
            extra["infobox"] = facts
        return Document(text, "text/plain", f"{uri}#page={page.page_id}", page.page_id, orjson.dumps(extra).decode())

"""Stream the pages of a MediaWiki XML export with expat: one page in memory at a time, with byte offsets.

expat rather than ElementTree's iterparse because it reports the byte offset of each ``<page>``
in the XML stream (provenance a reader can seek to), and a pushed parser needs no tree to clear.
Full-history dumps hold many revisions per page; only the last one is kept.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Iterator
from dataclasses import dataclass, field

_ROOT = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<mediawiki[\s>]", re.DOTALL)


def is_mediawiki_head(head: bytes) -> bool:
    """Whether the first bytes of a stream open a ``<mediawiki>`` root element (UTF-8 or UTF-16)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        head = head.decode("utf-16", "ignore").encode("utf-8")
    return bool(_ROOT.match(head.removeprefix(b"\xef\xbb\xbf")))


@dataclass
class SiteInfo:
    """What ``<siteinfo>`` says: the wiki's name, article URL base and namespace names by key."""

    dbname: str = ""
    base: str = ""
    namespaces: dict[int, str] = field(default_factory=dict)

    def article_url(self, title: str) -> str | None:
        """The page's URL on its wiki, from ``<base>`` (which names the main page)."""
        if "/wiki/" not in self.base:
            return None
        return self.base.rsplit("/wiki/", 1)[0] + "/wiki/" + title.replace(" ", "_")


@dataclass
class Page:
    """One page as exported: identity, namespace, redirect target, last revision and its wikitext."""

    offset: int  # byte offset of ``<page>`` in the (decompressed) XML stream
    number: int  # 1-based position of the page in the dump
    title: str = ""
    namespace: int = 0
    page_id: str = ""
    redirect: str | None = None
    revision_id: str = ""
    timestamp: str = ""
    model: str = "wikitext"
    text: str = ""
    text_bytes: int = 0  # the full text's UTF-8 length, also when ``text`` was cut at the record limit


class DumpError(Exception):
    """The XML is not well formed, or not a MediaWiki export; ``offset`` is where expat stopped."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


_PAGE_FIELDS = {"title": "title", "ns": "namespace", "id": "page_id"}
_REVISION_FIELDS = {"id": "revision_id", "timestamp": "timestamp", "model": "model", "text": "text"}


class PageParser:
    """Push decompressed bytes in with :meth:`feed`; complete pages come out as they close.

    ``max_text_bytes`` bounds memory: text beyond it is counted, not kept.
    """

    def __init__(self, max_text_bytes: int) -> None:
        self.site = SiteInfo()
        self.pages_started = 0
        self.page: Page | None = None
        self._limit = max_text_bytes
        self._done: list[Page] = []
        self._path: list[str] = []
        self._chars: list[str] | None = None
        self._kept = 0
        self._ns_key = 0
        self._seen_root = False
        self._parser = xml.parsers.expat.ParserCreate()
        self._parser.buffer_text = True
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._data

    def feed(self, data: bytes, final: bool = False) -> Iterator[Page]:
        """Parse ``data``; yields the pages it completed, then raises :class:`DumpError` if the XML broke."""
        error: DumpError | None = None
        try:
            self._parser.Parse(data, final)
        except xml.parsers.expat.ExpatError as exc:
            reason = xml.parsers.expat.ErrorString(exc.code)
            error = DumpError(f"not well-formed XML ({reason})", self._parser.ErrorByteIndex)
        except DumpError as exc:
            error = exc
        done, self._done = self._done, []
        yield from done  # pages that closed before the fault are whole
        if error is not None:
            raise error

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        depth = len(self._path)
        self._path.append(name)
        if depth == 0:
            if name != "mediawiki":
                raise DumpError(f"root element is <{name}>, not <mediawiki>", self._parser.CurrentByteIndex)
            self._seen_root = True
        elif depth == 1 and name == "page":
            self.pages_started += 1
            self.page = Page(self._parser.CurrentByteIndex, self.pages_started)
        elif self.page is not None and name == "redirect":
            self.page.redirect = attrs.get("title", "")
        elif name == "namespace" and self._path[-2] == "namespaces":
            self._ns_key = int(attrs.get("key", "0"))
            self._collect()
        elif self._field() is not None or (depth == 2 and name in {"base", "dbname"}):
            self._collect()

    def _collect(self) -> None:
        self._chars, self._kept = [], 0
        if self.page is not None and self._path[-1] == "text":
            self.page.text_bytes = 0

    def _field(self) -> str | None:
        path = self._path
        if self.page is None:
            return None
        if len(path) == 3:
            return _PAGE_FIELDS.get(path[2])
        if len(path) == 4 and path[2] == "revision":
            return _REVISION_FIELDS.get(path[3])
        return None

    def _data(self, text: str) -> None:
        if self._chars is None:
            return
        if self.page is not None and self._path[-1] == "text":
            size = len(text) if text.isascii() else len(text.encode("utf-8"))
            self.page.text_bytes += size
            room = self._limit - self._kept
            if size > room:  # keep the first ``limit`` bytes as evidence, count the rest
                self._chars.append(text.encode("utf-8")[: max(room, 0)].decode("utf-8", "ignore"))
                self._kept = self._limit
                return
            self._kept += size
        self._chars.append(text)

    def _end(self, name: str) -> None:
        if self._chars is not None:
            value = "".join(self._chars)
            self._chars = None
            self._store(name, value)
        self._path.pop()
        if name == "page" and len(self._path) == 1 and self.page is not None:
            self._done.append(self.page)
            self.page = None

    def _store(self, name: str, value: str) -> None:
        if self.page is not None:
            attr = self._field()
            if attr == "namespace":
                self.page.namespace = int(value.strip() or 0)
            elif attr is not None:
                setattr(self.page, attr, value if attr == "text" else value.strip())
        elif name == "namespace":
            self.site.namespaces[self._ns_key] = value.strip()
        elif name in {"base", "dbname"}:
            setattr(self.site, name, value.strip())

    @property
    def seen_root(self) -> bool:
        return self._seen_root

    @property
    def pages_closed(self) -> int:
        """Pages read whole so far (the one still open, if any, is not)."""
        return self.pages_started - (self.page is not None)

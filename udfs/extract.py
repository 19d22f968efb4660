"""Main text and title from HTML, with the standard library's tolerant parser.

This is the simple extractor the L1 model starts with: it drops script, style and
navigation elements and keeps block structure as newlines.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_SKIP = {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "template", "head"}
_BLOCK = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "pre",
    "section", "article", "blockquote", "dd", "dt", "dl", "hr", "td", "th", "figcaption",
}  # fmt: skip
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANKS = re.compile(r"\n\s*\n+")


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.skip_depth = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
        elif tag == "title":
            self.in_title = True
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self.skip_depth:
            self.skip_depth -= 1
        elif tag == "title":
            self.in_title = False
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> tuple[str, str | None]:
    """(main text, title) of an HTML page; whitespace collapsed, paragraphs kept as blank-line breaks."""
    parser = _TextCollector()
    try:
        parser.feed(markup)
        parser.close()
    except (AssertionError, ValueError):  # malformed markup: keep what was parsed
        pass
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n"))
    text = _BLANKS.sub("\n\n", "\n".join(lines)).strip()
    title = _SPACES.sub(" ", unescape("".join(parser.title))).strip() or None
    return text, title


def extract(content: str, content_type: str) -> tuple[str, str | None]:
    """The text an L1 document carries: extracted from markup, or the content itself."""
    if content_type == "text/html":
        return html_to_text(content)
    return content.strip(), None

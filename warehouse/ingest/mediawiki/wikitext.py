"""Wikitext to plain text with mwparserfromhell: prose, headings and list items stay; markup goes.

Templates, references, tables, file and category links, comments and media tags are dropped,
because as text they are noise that L1's rules reject (curly brackets, short unpunctuated lines).
Headings become their own lines, list items one line each without their bullets. Infobox
parameters can be kept apart as facts (``infobox_facts``), which L4 may use.
"""

from __future__ import annotations

import re

import mwparserfromhell
from mwparserfromhell.nodes import ExternalLink, Heading, HTMLEntity, Tag, Text, Wikilink
from mwparserfromhell.wikicode import Wikicode

# Namespace keys whose links are not prose: 6 File, 14 Category (their local names come from <siteinfo>).
LINK_NAMESPACES_DROPPED = (6, 14)
_ALWAYS_DROPPED_PREFIXES = frozenset({"file", "image", "media", "category"})
# Tags whose content is not running prose.
_DROPPED_TAGS = frozenset(
    {
        "ref",
        "references",
        "gallery",
        "math",
        "chem",
        "ce",
        "timeline",
        "imagemap",
        "score",
        "syntaxhighlight",
        "source",
        "table",
        "graph",
        "templatedata",
        "mapframe",
        "maplink",
        "hiero",
        "indicator",
    }
)
_TAG_NAMES = "|".join(sorted(_DROPPED_TAGS))
# Malformed wikitext (an unclosed '' inside a reference, say) makes the parser leave a tag as text:
# what survives of the dropped tags is removed from the rendered text, with its content.
_LEFTOVER_TAGS = re.compile(rf"<({_TAG_NAMES})\b[^>]*?/>|<({_TAG_NAMES})\b[^>]*>.*?</\2\s*>", re.IGNORECASE | re.DOTALL)
_EMPHASIS = re.compile(r"'{2,}")
_BLANK_RUNS = re.compile(r"\n{3,}")
_SPACE_RUNS = re.compile(r"[ \t\u00a0]{2,}")
_EMPTY_BRACKETS = re.compile(r"\(\s*[,;]?\s*\)")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:])")


class WikitextConverter:
    """Converts one wiki's pages; knows that wiki's local names for the File and Category namespaces."""

    def __init__(self, namespaces: dict[int, str] | None = None, *, infobox: bool = False) -> None:
        local = {(namespaces or {}).get(key, "").lower() for key in LINK_NAMESPACES_DROPPED}
        self._dropped_prefixes = _ALWAYS_DROPPED_PREFIXES | (local - {""})
        self._want_infobox = infobox

    def convert(self, wikitext: str) -> tuple[str, dict[str, str] | None]:
        """Plain text (paragraphs split by a blank line, one line per heading or list item) and,
        if asked for, the first infobox's named, non-empty parameters as plain text."""
        code = mwparserfromhell.parse(wikitext)
        facts = self._infobox(code) if self._want_infobox else None
        return _tidy(self._leftovers(self._render(code))), facts

    def _infobox(self, code: Wikicode) -> dict[str, str] | None:
        for template in code.filter_templates(recursive=False):
            name = str(template.name).strip()
            if name.lower().startswith("infobox"):
                facts = {"infobox": name.removeprefix("Infobox").removeprefix("infobox").strip()}
                for param in template.params:
                    value = _tidy(self._render(param.value)).replace("\n", "; ")
                    if value and param.showkey:
                        facts[str(param.name).strip()] = value
                return facts
        return None

    def _render(self, code: Wikicode) -> str:
        parts: list[str] = []
        for node in code.nodes:
            kind = type(node)
            if kind is Text:
                parts.append(node.value)
            elif kind is Wikilink:
                if not self._dropped_link(str(node.title)):
                    parts.append(self._render(node.text if node.text is not None else node.title))
            elif kind is Tag:
                parts.append(self._tag(node))
            elif kind is Heading:
                parts.append("\n" + self._render(node.title).strip() + "\n")
            elif kind is ExternalLink and node.title is not None:
                parts.append(self._render(node.title))
            elif kind is HTMLEntity:
                parts.append(node.normalize())
            # templates, comments, arguments, bare URLs: dropped
        return "".join(parts)

    def _tag(self, node: Tag) -> str:
        name = str(node.tag).strip().lower()
        if name in _DROPPED_TAGS:
            return ""
        if name == "br":
            return "\n"
        if node.self_closing or node.contents is None:
            return ""  # list bullets (li, dt, dd) and rules carry no text of their own
        return self._render(node.contents)

    def _leftovers(self, text: str) -> str:
        """Remove what malformed wikitext made the parser leave as text: tags, tables, file links, quotes."""
        text = _EMPHASIS.sub("", _LEFTOVER_TAGS.sub("", text))
        if "{|" in text:
            text = _without_tables(text)
        if "[[" in text:
            text = self._without_dropped_links(text)
        return text

    def _without_dropped_links(self, text: str) -> str:
        """Cut ``[[File:…]]``/``[[Category:…]]`` left as text, nested links and line breaks included."""
        out, pos = [], 0
        while (start := text.find("[[", pos)) >= 0:
            end, depth, i = -1, 0, start
            while i < len(text) - 1:
                pair = text[i : i + 2]
                depth += (pair == "[[") - (pair == "]]")
                i += 2 if pair in ("[[", "]]") else 1
                if depth == 0:
                    end = i
                    break
            inner = text[start + 2 : end - 2] if end > 0 else ""
            if end < 0 or not self._dropped_link(inner.split("|", 1)[0]):
                out.append(text[pos : start + 2])
                pos = start + 2
                continue
            out.append(text[pos:start])
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def _dropped_link(self, title: str) -> bool:
        prefix, colon, _ = title.partition(":")
        return bool(colon) and prefix.strip().lower() in self._dropped_prefixes


def _without_tables(text: str) -> str:
    """Drop table markup left as text, from a line opening ``{|`` to the line closing it (nesting kept).

    A table that never closes is kept: dropping the rest of the page would lose prose."""
    kept: list[str] = []
    held: list[str] = []  # the lines of the table still open
    depth = 0
    for line in text.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("{|") or held:
            held.append(line)
            depth += stripped.startswith("{|") - stripped.startswith("|}")
            if depth == 0:
                held = []
        else:
            kept.append(line)
    return "\n".join(kept + held)


def _tidy(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        line = _SPACE_RUNS.sub(" ", line).strip()
        line = _SPACE_BEFORE_PUNCT.sub(r"\1", _EMPTY_BRACKETS.sub("", line)).strip()
        lines.append(line)
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()

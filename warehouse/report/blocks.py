"""The page's building blocks. A ``Result`` is a table of numbers together with the SQL that made them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from warehouse.query import LakeConnection


@dataclass
class Result:
    """Rows of ``sql`` as run against the lake: the page prints both, side by side."""

    key: str
    caption: str
    sql: str
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class Chart:
    """An inline SVG figure, described for screen readers; ``source`` is the Result it plots."""

    svg: str
    description: str
    source: str


@dataclass
class Note:
    text: str


@dataclass
class Examples:
    """A few documents per reason, each cut short; ``sql`` lists them all."""

    key: str
    caption: str
    sql: str
    rows: list[dict[str, Any]]


Block = Result | Chart | Note | Examples


@dataclass
class Section:
    """One part of the page; ``missing`` says why it has no data, when it has none."""

    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    missing: str | None = None


def dedent(sql: str) -> str:
    """SQL as shown: common indentation and blank edges removed."""
    lines = [line for line in sql.strip("\n").splitlines()]
    indent = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
    return "\n".join(x[indent:].rstrip() for x in lines)


def run(con: LakeConnection, key: str, caption: str, sql: str) -> Result:
    """Run ``sql`` (time travel included) and keep its text exactly as run."""
    text = dedent(sql)
    cursor = con.execute(text)
    columns = [d[0] for d in cursor.description]
    return Result(key, caption, text, columns, cursor.fetchall())


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

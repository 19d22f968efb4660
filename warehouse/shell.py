"""The interactive ``tierhouse sql`` shell: multi-line statements ending in ``;``, history, tab completion."""

from __future__ import annotations

import atexit
import contextlib
from collections.abc import Callable
from pathlib import Path

import duckdb

from warehouse.query import LakeConnection
from warehouse.tables import ALL_TABLES
from warehouse.timetravel import ReadOnlyError, TimeTravelError

HISTORY = Path.home() / ".tierhouse_history"
HELP = """\
Statements end with ';' and may span lines. Lake tables: tiers.l0_raw … tiers.l4_knowledge, ops.*.
Time travel: FROM tiers.l2_selected FOR VERSION AS OF 'build-3'   (or a snapshot id, tag, 'audit')
             FROM tiers.l1_clean FOR TIMESTAMP AS OF '2026-11-26 09:00:00'
Commands: .tables  .schema TABLE  .refresh (see new snapshots)  .help  .quit"""
_KEYWORDS = (
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "BY",
    "ORDER",
    "LIMIT",
    "JOIN",
    "LEFT",
    "FULL",
    "USING",
    "ON",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS",
    "NULL",
    "COUNT",
    "DISTINCT",
    "WITH",
    "UNION",
    "ALL",
    "HAVING",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "FOR",
    "VERSION",
    "TIMESTAMP",
    "OF",
    "AT",
    "CREATE",
    "TABLE",
)


def _completions(con: LakeConnection) -> list[str]:
    words = [t.name for t in ALL_TABLES] + list(_KEYWORDS) + [k.lower() for k in _KEYWORDS]
    for tdef in ALL_TABLES:
        words += list(tdef.schema.names)
    return sorted(set(words))


def _setup_readline(words: list[str]) -> None:
    try:
        import readline
    except ImportError:  # no readline (e.g. some minimal builds): the shell still works, without extras
        return
    with contextlib.suppress(OSError):
        readline.read_history_file(HISTORY)
    atexit.register(lambda: readline.write_history_file(HISTORY))
    readline.set_completer_delims(" \t\n(),;=")

    def complete(text: str, state: int) -> str | None:
        matches = [w for w in words if w.startswith(text)]
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.parse_and_bind("tab: complete")


def _command(line: str, con: LakeConnection, show: Callable[[duckdb.DuckDBPyRelation], None], say) -> bool:
    """Run a dot command; False means quit."""
    name, _, arg = line.partition(" ")
    if name in {".quit", ".exit"}:
        return False
    if name == ".tables":
        for tdef in ALL_TABLES:
            say(f"{tdef.name:<20} {tdef.doc}")
    elif name == ".schema" and arg:
        show(con.sql(f"DESCRIBE {arg.strip()}"))
    elif name == ".refresh":
        con.refresh()
        say("every table now points at its newest snapshot")
    else:
        say(HELP)
    return True


def run_shell(con: LakeConnection, show: Callable[[duckdb.DuckDBPyRelation], None], say: Callable[[str], None]) -> None:
    """Read statements until ``.quit`` or end of input; errors are reported and the shell goes on."""
    _setup_readline(_completions(con))
    say("tierhouse SQL shell: statements end with ';'. Type .help for help.")
    buffer: list[str] = []
    while True:
        try:
            line = input("tierhouse> " if not buffer else "      ...> ")
        except EOFError:
            break
        except KeyboardInterrupt:
            buffer.clear()
            say("")
            continue
        if not buffer and line.strip().startswith("."):
            if not _command(line.strip(), con, show, say):
                break
            continue
        buffer.append(line)
        if not line.rstrip().endswith(";"):
            continue
        statement = "\n".join(buffer)
        buffer.clear()
        try:
            result = con.sql(statement)
        except (TimeTravelError, ReadOnlyError, SyntaxError, duckdb.Error) as exc:
            say(f"error: {exc}")
            continue
        if result is not None:
            show(result)

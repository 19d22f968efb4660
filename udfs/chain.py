"""FineWeb's chain semantics: the rules run in DataTrove's order, and C4's line filter rewrites the text
that the rules after it (FineWeb's) and everything downstream (dedup, higher tiers) see.

DataTrove's ``C4QualityFilter`` replaces a document's text with the lines it kept, and FineWeb's recipe
trains on that text. The default L1 judges every rule on the extracted text and keeps it whole; the
``l1_c4_rewrite`` dbt var switches L1 to this module instead.
"""

from __future__ import annotations

from udfs import codeblocks
from udfs.heuristics import C4Quality, TextView, configured_rules, masks_code


def chain(text: str, rules: tuple, mask_code: bool = False) -> tuple[str, list[str]]:
    """(the text the chain ends with, ``rule:reason`` for every rule it fails).

    Rules before C4 judge the text as extracted (less its code blocks with ``mask_code``); when C4
    keeps the page, the rules after it judge C4's kept lines, which become the document's text. A page
    C4 drops keeps its text, as in DataTrove.
    """
    view, flags, final = TextView(codeblocks.mask(text) if mask_code else text), [], text
    for rule in rules:
        if isinstance(rule, C4Quality):
            rewritten, reason = rule.rewrite(view)
            if rewritten is not None:
                view = TextView(final := rewritten)
        else:
            reason = rule.filter(view)
        if reason is not None:
            flags.append(f"{rule.name}:{reason}")
    return final, flags


def chain_texts(texts: list[str], overrides: list[str]) -> list[dict[str, object]]:
    """:func:`chain` over a batch, each text with its source's rule profile (``l1_rules`` JSON)."""
    results = (chain(t, configured_rules(o), masks_code(o)) for t, o in zip(texts, overrides, strict=True))
    return [{"text": text, "flags": flags} for text, flags in results]

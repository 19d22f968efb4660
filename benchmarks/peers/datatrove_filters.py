"""Run DataTrove's own heuristic filters over a JSONL of documents (inside .venv-peers).

    .venv-peers/bin/python benchmarks/peers/datatrove_filters.py docs.jsonl verdicts.jsonl

Each input line is {"id": ..., "text": ...}. Each output line gives, per filter, whether DataTrove
keeps the document and its reason, plus the word and sentence counts its tokenizer saw, so that
every disagreement with tierhouse can be explained. "chain" is FineWeb's order, where C4's filter
rewrites the document: the text C4 kept (null when it drops the page) and FineWeb's verdict on that
text (not timed). The last line holds seconds spent per filter.
"""

from __future__ import annotations

import json
import resource
import sys
import time

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.utils.text import split_into_sentences, split_into_words

FILTERS = {
    "gopher_quality": GopherQualityFilter(),
    "gopher_repetition": GopherRepetitionFilter(),
    "c4_quality": C4QualityFilter(),
    "fineweb_quality": FineWebQualityFilter(),
}


def verdict(result) -> list:
    return (
        [True, None]
        if result is True
        else [bool(result[0]), result[1]]
        if isinstance(result, tuple)
        else [bool(result), None]
    )


def main(source: str, target: str) -> None:
    seconds = dict.fromkeys(FILTERS, 0.0)
    with open(source) as fh, open(target, "w") as out:
        for line in fh:
            record = json.loads(line)
            row = {"id": record["id"]}
            for name, filt in FILTERS.items():
                doc = Document(text=record["text"], id=str(record["id"]))
                started = time.perf_counter()
                row[name] = verdict(filt.filter(doc))
                seconds[name] += time.perf_counter() - started
                if name == "c4_quality":
                    rewritten = doc.text if row[name][0] else None
            after = None if rewritten is None else verdict(FILTERS["fineweb_quality"].filter(Document(rewritten, "")))
            row["chain"] = {"c4_text": rewritten, "fineweb_quality": after}
            words = split_into_words(record["text"])
            row["n_words"] = len(words)
            row["n_sentences"] = len(split_into_sentences(record["text"]))
            out.write(json.dumps(row) + "\n")
        out.write(json.dumps({"seconds": seconds, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:3])

"""L1's extractor: code blocks survive as fences, the block pass drops what surrounds an article, and a
short main content is checked against the whole page, on the labelled pages it was tuned on and on two
held-out sets."""

from __future__ import annotations

import re

import pytest
import trafilatura
from resiliparse.parse.html import HTMLTree

from udfs.boilerplate import SHORT_ARTICLE, article_span, measured_span, recover
from udfs.codeblocks import has_code, mask
from udfs.extract import extract_html, main_content
from warehouse.config import load_settings
from warehouse.corpus.articles import (
    Article,
    Overlap,
    curated_articles,
    held_out_articles,
    labelled_articles,
    overlap,
)

# handbook pages whose <pre> blocks hold shell sessions and configuration files
CODE_PAGES = ("sect.apt-cache.html", "sect.dhcp.html", "sect.inetd.html", "sect.x509-cert.html")


def _plain(markup: str) -> str:
    return main_content(HTMLTree.parse(markup))


@pytest.mark.parametrize("page", CODE_PAGES)
def test_code_blocks_come_out_fenced_and_masking_leaves_the_prose(handbook_root, page):
    markup = (handbook_root / "en-US" / page).read_text()
    main = _plain(markup)  # Resiliparse's main content leaves out sidebars (and their code)
    every = [pre.text.strip("\n") for pre in HTMLTree.parse(markup).body.query_selector_all("pre")]
    blocks = [b for b in every if b.splitlines()[0].strip() in main]
    text = extract_html(markup).text
    fenced = re.findall(r"^```\n(.*?)\n```$", text, re.MULTILINE | re.DOTALL)
    assert blocks and fenced == blocks  # every block of the main content, whole, in order, with its line breaks
    prose = mask(text)
    assert has_code(text) and not has_code(prose) and "```" not in prose
    assert all(line.strip() not in prose for block in blocks for line in block.splitlines() if len(line) > 40)
    assert len(prose.split()) > 100  # the explanation around the code stays


def test_fences_outgrow_backticks_inside_code():
    markup = "<html><body><article><p>" + "Prose that explains the sample below. " * 5 + "</p>"
    markup += "<pre>echo ```not a fence```</pre><p>" + "More prose after the sample ends here. " * 5
    text = extract_html(markup + "</p></article></body></html>").text
    assert "````\necho ```not a fence```\n````" in text and mask(text).count("```") == 0


def test_line_pass_keeps_the_article_span_and_drops_the_repeated_title():
    article = [
        "A long first paragraph of the article that goes on for more than ten words in all.",
        "A heading inside",
        "The second paragraph also has more than enough words to count as article text.",
    ]
    page = ["Storm hits the coast", "By A. Reporter", "May 4, 2024", *article, "Related", "Share", "Home"]
    assert article_span("\n".join(page), "Storm hits the coast | News") == "\n".join(article)
    titled = ["Storm hits the coast, and the whole town spends the long night in the school hall.", *article]
    assert article_span("\n".join(titled), titled[0] + " - News") == "\n".join(article)
    assert article_span("Home\nShort page", None) == "Home\nShort page"  # nothing substantial: unchanged
    code = [*article, "```", "$ apt-cache search foo", "```"]
    assert article_span("\n".join([*code, "Next"]), None) == "\n".join(code)  # a closing sample stays


def test_block_pass_drops_a_small_block_set_apart_by_short_lines():
    article = [
        "The council met on Monday and agreed to rebuild the harbour wall before the winter storms.",
        "Funding",
        "The money comes from the regional budget, which was approved by a large majority last spring.",
        "Work starts in May and should take about six months, the harbour master told reporters on the quay.",
        "Fishermen welcomed the plan but asked that the works leave the northern berths open all season.",
    ]
    promo = ["Share", "Tweet", "Email", "Get our app for the news of your town every day."]  # 11 words
    assert article_span("\n".join([*article, *promo]), None) == "\n".join(article)
    near = [*article, *promo[1:]]  # two short lines do not end a block
    assert article_span("\n".join(near), None) == "\n".join(near)
    two = ["Photo", "Caption", *article[:3], "Related", "More", "Video", *article[3:]]
    assert article_span("\n".join(two), None) == "\n".join(two[2:])  # each block over a fifth: both kept


_ARTICLE = [
    "The new release ships a debugger that runs inside the browser and needs no extension at all.",
    "It also brings a network monitor that lists every request a page makes and how long each took.",
]
_CUT = [  # a section that Resiliparse's main-content rules can drop: its class name looks like boilerplate
    "More features",
    "  • Style editor",
    "    View and edit the style sheets of any page, and create new ones that apply at once.",
    "    Learn more",
    "  • Audio editor",
    "    Inspect the audio nodes of a page in real time to check that they are connected as meant.",
]
_NAV = ["Home", "Products", "Download", "Sign in"]
_FOOTER = ["About", "Contact", "Privacy", "Copyright 2015 by the contributors, under a free licence."]


def test_short_main_content_grows_by_the_rest_of_its_article_block():
    page = "\n".join([*_NAV, *_ARTICLE, *_CUT, *_FOOTER])
    assert recover("\n".join(_ARTICLE), page) == "\n".join([*_ARTICLE, *_CUT])  # no navigation, no footer
    lede = "A short standfirst that sums up the story above the article in a single sentence."
    story = [f"Paragraph {i} of the story goes on to tell what happened and why it matters today." for i in range(30)]
    whole = "\n".join([*_NAV, lede, "Advertisement", "Share", "Print", *story, *_FOOTER])
    assert recover(lede, whole) == "\n".join(story)  # a lede alone: the whole page's article span
    assert recover("\n".join(_ARTICLE), "\n".join([*_NAV, *_ARTICLE, *_FOOTER])) == "\n".join(_ARTICLE)


def _trafilatura(markup: str) -> str:
    return trafilatura.extract(markup) or ""


def _scores(extract, articles: list[Article]) -> list[Overlap]:
    return [overlap(extract(a.html), a.reference) for a in articles]


def _mean(scores: list[Overlap], key: str) -> float:
    return sum(getattr(s, key) for s in scores) / len(scores)


def _ours(markup: str) -> str:
    return extract_html(markup).text


@pytest.fixture(scope="module")
def tuning():
    return labelled_articles(load_settings().cache_dir)


@pytest.fixture(scope="module")
def held_out():
    return held_out_articles(load_settings().cache_dir)


@pytest.fixture(scope="module")
def curated():
    return curated_articles(load_settings().cache_dir)


def test_block_pass_is_more_precise_on_the_tuning_pages(tuning):
    """Against the reference texts, the block pass raises precision and keeps recall."""
    ours, plain = _scores(_ours, tuning), _scores(_plain, tuning)
    assert len(tuning) >= 20
    assert _mean(ours, "precision") > _mean(plain, "precision") + 0.05
    assert _mean(ours, "recall") > 0.97 and _mean(ours, "f1") > _mean(plain, "f1") + 0.02
    lost = [a.name for a, s in zip(tuning, ours, strict=True) if s.recall < 0.8]
    assert not lost, lost


def test_block_pass_holds_on_held_out_pages(held_out):
    """On pages nothing was tuned on, precision still rises and no page loses much of its article."""
    ours, plain = _scores(_ours, held_out), _scores(_plain, held_out)
    assert len(held_out) >= 25
    assert _mean(ours, "precision") > _mean(plain, "precision") + 0.05
    assert _mean(ours, "f1") > _mean(plain, "f1") + 0.02
    lost = [a.name for a, o, p in zip(held_out, ours, plain, strict=True) if o.recall < p.recall - 0.15]
    assert not lost, lost


def test_articles_cut_by_main_content_are_recovered(held_out, curated):
    """Real pages whose main content is short and holds under half the article (a landing page's
    feature section dropped, a news page reduced to its standfirst) get it back from the page."""
    cut = []
    for article in held_out + curated:
        tree = HTMLTree.parse(article.html)
        main = main_content(tree)
        short = measured_span(main, (tree.title or "").strip() or None)[1] < SHORT_ARTICLE
        if short and overlap(main, article.reference).recall < 0.5:
            cut.append((article.name, overlap(_ours(article.html), article.reference).recall))
    assert len(cut) >= 4 and all(recall > 0.9 for _, recall in cut), cut


def test_f1_against_trafilatura(tuning, held_out, curated):
    """At least trafilatura's F1 (its defaults) on the tuning pages and on both held-out sets."""
    for articles in (tuning, held_out, curated):
        assert _mean(_scores(_ours, articles), "f1") >= _mean(_scores(_trafilatura, articles), "f1")

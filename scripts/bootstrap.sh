#!/usr/bin/env bash
# Create .venv and install tierhouse with its pinned dependencies; a no-op when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
if ! "$PY" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] < (3, 13)))'; then
  echo "tierhouse needs Python 3.11 or 3.12; $PY is $("$PY" --version 2>&1)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.tierhouse-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
# llama-cpp-python has no wheel on PyPI: pip builds it (about 7 minutes on 2 cores, once; pip caches
# the wheel). A portable AVX2 build: the default -march=native build crashes in llama_decode on some CPUs.
export CMAKE_ARGS=${CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=OFF"}
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing tierhouse and its pinned dependencies into .venv (log: .venv/install.log;" \
       "the first install compiles llama.cpp, about 7 minutes) ..." >&2
  if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip \
         && .venv/bin/python -m pip install --disable-pip-version-check -e '.[dev]'; } > .venv/install.log 2>&1; then
    tail -n 30 .venv/install.log >&2
    echo "install failed; the full log is .venv/install.log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi

#!/usr/bin/env bash
# Create .venv-peers with the peer tools the parity tests and benchmarks compare against.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv-peers/bin/python ] || "$PY" -m venv .venv-peers
stamp=.venv-peers/.installed
want=$(sha256sum benchmarks/peers/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing the peer environment (DataTrove) into .venv-peers (log: .venv-peers/install.log) ..." >&2
  [ -x .venv/bin/uv ] || { echo "peers.sh: .venv/bin/uv is missing; run scripts/bootstrap.sh first" >&2; exit 1; }
  if ! .venv/bin/uv pip install --python .venv-peers/bin/python -r benchmarks/peers/requirements.txt \
       > .venv-peers/install.log 2>&1; then
    tail -n 30 .venv-peers/install.log >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi

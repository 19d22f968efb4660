#!/usr/bin/env bash
# One command from a fresh clone: install, then run the main job on the embedded lake (./lake).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/tierhouse quickstart "$@"

#!/usr/bin/env bash
# Run the whole test suite (installs first if needed). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# two workers (2-core CI), each taking whole test modules, longest first (tests/conftest.py)
exec .venv/bin/python -m pytest -q -n "${TIERHOUSE_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder \
  --durations=25 "$@"

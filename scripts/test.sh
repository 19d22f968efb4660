#!/usr/bin/env bash
# Run the whole test suite (installs first if needed). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# two workers (2-core CI); tests that share a costly fixture stay on one (tests/conftest.py)
exec .venv/bin/python -m pytest -q -n "${TIERHOUSE_TEST_WORKERS:-2}" --dist loadgroup "$@"

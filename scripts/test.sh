#!/usr/bin/env bash
# `make test`: the whole suite against the real PostgreSQL and Redis (started if needed). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure_services.sh
mkdir -p test-output/screenshots
echo "==> running the test suite (screenshots and worker logs in test-output/)"
exec .venv/bin/python -m pytest -p no:cacheprovider --junitxml=test-output/junit.xml "$@"

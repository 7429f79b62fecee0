#!/usr/bin/env bash
# `make run`: migrate, create the admin user and a write token, seed the catalog, then serve.
# Idempotent: a second run migrates nothing, keeps the admin's password and skips seeds already present.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
echo "==> data directory: ${HUB_DATA_DIR:-$(pwd)/data}  database: ${DATABASE_URL:-SQLite (embedded)}"
echo "==> applying database migrations"
"$PY" manage.py migrate --no-input -v 1
echo "==> admin user and write token"
"$PY" manage.py bootstrap
echo "==> seed catalog (first run converts the seed models; later runs skip them)"
"$PY" manage.py seed_catalog || echo "!! seeding failed; the hub starts anyway (see the messages above)"
echo "==> the hub: http://${HOST:-127.0.0.1}:${PORT:-8000}/  (API docs at /api/docs/, admin at /admin/)"
exec bash scripts/serve.sh

#!/usr/bin/env bash
# Start the hub: one Celery worker (background) and the web server (foreground) on $HOST:$PORT.
# Ctrl-C (or SIGTERM) stops both. Expects an installed .venv and a migrated database.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
WEB_WORKERS=${WEB_WORKERS:-2}
WORKER_QUEUES=${WORKER_QUEUES:-cpu,gpu}

echo "==> starting Celery worker (queues: $WORKER_QUEUES)"
"$PY" -m celery -A hub worker -Q "$WORKER_QUEUES" -c "${WORKER_CONCURRENCY:-1}" --loglevel "${LOG_LEVEL:-INFO}" \
  -n "hub-worker-$$@%h" -B --schedule "${HUB_DATA_DIR:-data}/celerybeat-schedule" &  # -B: periodic tasks (job reconciler)
worker=$!
echo "==> starting the inference worker (threads pool: concurrent requests are batched)"
"$PY" -m celery -A hub worker -P threads -Q inference -c "${SERVE_CONCURRENCY:-32}" --loglevel "${LOG_LEVEL:-INFO}" \
  -n "hub-serve-$$@%h" &
serve=$!
trap 'echo "==> stopping"; kill -TERM "$worker" "$serve" 2>/dev/null; wait "$worker" "$serve" 2>/dev/null || true' EXIT INT TERM

echo "==> serving the hub on http://$HOST:$PORT"
"$PY" -m gunicorn hub.wsgi:application --bind "$HOST:$PORT" --workers "$WEB_WORKERS" \
  --worker-class gthread --threads "${WEB_THREADS:-8}" --timeout 120 --access-logfile - &
web=$!
wait -n "$web" "$worker" "$serve"

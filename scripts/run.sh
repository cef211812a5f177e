#!/usr/bin/env bash
# Run Quoted on the embedded default (SQLite, local files, in-process cache and
# limits, local estimator) at http://localhost:8000, migrating the database first.
# Any setting of docs/ARCHITECTURE.md / the README table can be given as an env var.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh requirements.txt
mkdir -p data
.venv/bin/alembic upgrade head
exec .venv/bin/uvicorn backend.main:app --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" --no-access-log

#!/usr/bin/env bash
# The whole test suite: static checks (ruff, import-linter, bandit, mypy), then
# pytest with coverage. Integration tests run on SQLite always and on PostgreSQL
# and Redis when they answer; with CI=true they are required.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh requirements-dev.txt
export PATH="$ROOT/.venv/bin:$PATH"

# Browser tests drive Debian's Chromium (never a downloaded browser).
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM_PATH" ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing chromium for the browser tests" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core fonts-liberation2 >/dev/null
fi

echo "== ruff";          ruff check backend tests alembic bench
echo "== import-linter"; lint-imports
echo "== bandit";        bandit -q -r backend -c pyproject.toml
echo "== mypy";          mypy

echo "== pytest"
set +e
python -m pytest --cov=backend --cov-report=term --cov-report=xml --cov-fail-under=85 "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"

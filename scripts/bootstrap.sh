#!/usr/bin/env bash
# Create .venv at the repository root when it is missing and install the pinned
# requirements (again only when a requirements file changed). Sourced by run.sh and test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQS="${1:-requirements.txt}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$ROOT/.venv/bin/python" ]; then
  echo "bootstrap: creating $ROOT/.venv" >&2
  "$PYTHON" -m venv "$ROOT/.venv"
  "$ROOT/.venv/bin/python" -m pip install --quiet --upgrade pip
fi
stamp="$ROOT/.venv/.installed-$(basename "$REQS" .txt)"
digest="$(cat "$ROOT/requirements.txt" "$ROOT/$REQS" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
  echo "bootstrap: installing $REQS" >&2
  "$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/$REQS"
  echo "$digest" > "$stamp"
fi

#!/usr/bin/env bash
# The README's test command: set up the stack (idempotent, see tools/setup_env.sh), then run the suite.
# Extra arguments go to pytest, e.g.  bash tools/run_tests.sh -k registry -x
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
PY="${ATTNPLUG_VENV:-${VIRTUAL_ENV:-${CONDA_PREFIX:-$ROOT/.venv}}}/bin/python"
cd "$ROOT"
printf '\n[attnplug tests] %s -m pytest %s\n' "$PY" "$*"
exec "$PY" -m pytest "$@"

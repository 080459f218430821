#!/usr/bin/env bash
# One entry point for a fresh machine: sets up the venv, then runs
#   bash launch/run.sh test [pytest args]        the test suite
#   bash launch/run.sh MODULE [args]             python -m launch.MODULE [args]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/launch/setup.sh"
venv="${HIFACE_VENV:-$HOME/.cache/hiface/venv}"
cd "$root"
cmd="${1:?usage: launch/run.sh test|MODULE [args]}"; shift
if [ "$cmd" = test ]; then
  exec "$venv/bin/python" -m pytest -q "$@"
fi
exec "$venv/bin/python" -m "launch.$cmd" "$@"

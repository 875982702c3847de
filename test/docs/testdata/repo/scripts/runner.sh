#!/usr/bin/env bash
# Fixture for the doc checks: runs another script, like on-host.sh.
set -euo pipefail
if [[ ${1:-} == --help ]]; then
  echo "Usage: runner.sh [--host USER@IP] SCRIPT [ARGS...]"
  exit 0
fi
echo "runner: $*"

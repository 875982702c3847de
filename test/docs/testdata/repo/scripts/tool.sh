#!/usr/bin/env bash
# Fixture for the doc checks: a script with a --help that lists its flags.
set -euo pipefail
if [[ ${1:-} == --help ]]; then
  cat <<'USAGE'
Usage: tool.sh [--yes] [--name NAME] ACTION
  --yes        do not ask
  --name NAME  the name to use
USAGE
  exit 0
fi
echo "tool: $*"

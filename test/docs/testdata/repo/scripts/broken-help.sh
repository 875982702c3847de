#!/usr/bin/env bash
# Fixture for the doc checks: a script whose --help fails.
set -euo pipefail
echo "broken-help.sh: unknown option '${1:-}'" >&2
exit 2

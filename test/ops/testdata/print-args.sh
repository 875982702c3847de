#!/usr/bin/env bash
# Fixture for on-host.sh tests: prints its arguments as one JSON array, the user id it
# runs as, and whether it found the shared library beside it.
set -euo pipefail
# shellcheck source=../../../scripts/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
jq -cn '$ARGS.positional' --args -- "$@"
echo "uid=$(id -u)"
echo "dir=$(dirname "${BASH_SOURCE[0]}")"

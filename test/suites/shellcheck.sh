#!/usr/bin/env bash
# Runs shellcheck on every shell script of the repository (scripts/, test/, .ci/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mapfile -t files < <(git ls-files -co --exclude-standard -- '*.sh' '.ci/run' 'test/doubles/bin/*' \
  'test/standin/adapters/dnf' 'test/standin/adapters/bootc' 'test/simhost/guest/bootc' 'test/simhost/guest/greenboot' | sort -u)
shellcheck --version | sed -n 2p
shellcheck -x -P SCRIPTDIR "${files[@]}"
echo "shellcheck: ${#files[@]} files clean"

#!/usr/bin/env bash
# Runs one go subcommand in every Go module of the repository (apps and test/).
# Usage: test/suites/go-each-module.sh vet ./...
#        test/suites/go-each-module.sh test -race -count=1 ./...
set -euo pipefail
# Each module on its own, as it builds in `make apps` (go.work is for editors).
export GOWORK=off
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
status=0
for mod in $(git ls-files -co --exclude-standard -- '*/go.mod' 'go.mod' | xargs -n1 dirname | sort -u); do
  # The integration suites under test/ have their own runs; vet covers all of test/.
  args=("$@")
  if [[ $mod == test && $1 == test ]]; then
    args=(test -race -count=1 ./harness/... ./shellwords/... ./lifecycle/...)
  fi
  echo "--- go ${args[*]} (in $mod)"
  (cd "$mod" && go "${args[@]}") || status=1
  # The policy evaluator builds only with containers/image's pure-Go OpenPGP (test/signing).
  if [[ $mod == test && $1 == vet ]]; then
    echo "--- go vet -tags containers_image_openpgp ./signing/... (in $mod, CGO_ENABLED=0)"
    (cd "$mod" && CGO_ENABLED=0 go vet -tags containers_image_openpgp ./signing/...) || status=1
  fi
done
exit $status

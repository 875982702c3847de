#!/usr/bin/env bash
# Fails when any Go file in the repository is not gofmt-formatted.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
unformatted=$(git ls-files -co --exclude-standard -- '*.go' | xargs -r gofmt -l)
if [[ -n $unformatted ]]; then
  echo "gofmt: these files need 'gofmt -w':" >&2
  printf '  %s\n' "$unformatted" >&2
  exit 1
fi
echo "gofmt: all Go files formatted"

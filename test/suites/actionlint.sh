#!/usr/bin/env bash
# actionlint on .github/workflows, fetched through the Go module proxy at a pinned version.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ACTIONLINT=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
# With shellcheck on PATH, actionlint lints the workflows' run: blocks with it too.
go run "$ACTIONLINT" -color=false
echo "actionlint: workflows clean"

#!/usr/bin/env bash
# actionlint on .github/workflows, fetched through the Go module proxy at a pinned version.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ACTIONLINT=github.com/rhysd/actionlint/cmd/actionlint@v1.7.12
# shellcheck integration stays on: workflow run: blocks get linted too when shellcheck exists.
go run "$ACTIONLINT" -color=false
echo "actionlint: workflows clean"

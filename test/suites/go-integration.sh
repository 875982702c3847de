#!/usr/bin/env bash
# Runs Go integration tests from the test/ module. Usage: go-integration.sh ./PKG/... [go test flags]
set -euo pipefail
# Each module on its own, as it builds in `make apps` (go.work is for editors).
export GOWORK=off
cd "$(dirname "${BASH_SOURCE[0]}")/../../test"
pkg=$1; shift
exec go test -v -count=1 -timeout 40m "$@" "$pkg"

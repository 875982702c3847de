#!/usr/bin/env bash
# Runs Go integration tests from the test/ module. Usage: go-integration.sh ./PKG/... [go test flags]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../test"
pkg=$1; shift
exec go test -v -count=1 -timeout 40m "$@" "$pkg"

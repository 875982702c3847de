#!/usr/bin/env bash
# Fixture for the doc checks: a script whose messages, status lines and check
# lines the fixture docs quote.
set -euo pipefail
PROG=ops.sh
url=http://127.0.0.1 ref=example/image:latest digest=sha256:0123 state=${STATE:-/tmp/ops-state}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: %s (see --help)\n' "$PROG" "$*" >&2; exit 2; }
describe() { printf '%s (version %s)' "$1" "${2:-unknown}"; }
record() { printf '%s  %s  %s\n' "$1" "$2" "$3"; }

check_http() { # NAME PATH
  local body
  if body=$(curl -fsS "$url$2" 2>&1); then
    record PASS "$1" "GET $url$2 -> 2xx"
  else
    record FAIL "$1" "GET $url$2: $body"
  fi
}

case ${1:-} in
  --help)
    echo "Usage: ops.sh status|download|check"
    exit 0
    ;;
  status)
    printf 'image:     %s\n' "$ref"
    printf 'update:    %s at the last check\n' "$(describe "$digest" v2)"
    awk -F '\t' '{ printf "bad:       %s (abandoned by a rollback on %s)\n", $1, $2 }' "$state/bad"
    ;;
  download)
    grep -q "$digest" "$state/bad" &&
      die "the available image $digest was recorded as bad by a rollback on $(date -u +%F); refusing it (--force overrides)"
    log "downloading $digest (bootc upgrade --download-only)"
    warn "a reboot before 'ops.sh apply' discards this download"
    ;;
  check)
    for unit in ${UNITS:-hello.service}; do
      record PASS "unit:$unit" "active"
      check_http "health:$unit" /health
    done
    ;;
  *) usage_error "unknown action '${1:-}'" ;;
esac

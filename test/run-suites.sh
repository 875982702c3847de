#!/usr/bin/env bash
# The one test command behind `make test`: runs each suite, prints PASS/FAIL/SKIP
# per suite and a summary line. A suite whose tools are missing is skipped with
# an install hint; under CI=true a skip counts as a failure.
#
# Usage: test/run-suites.sh [SUITE...]     (no argument: every suite)
#        test/run-suites.sh --list
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
cd "$ROOT"

# name | tools it needs | install hint | command
SUITES=(
  "gofmt|go|install Go 1.24+ (https://go.dev/dl)|test/suites/gofmt.sh"
  "vet|go|install Go 1.24+|test/suites/go-each-module.sh vet ./..."
  "unit|go|install Go 1.24+|test/suites/go-each-module.sh test -race -count=1 ./..."
  "shellcheck|shellcheck|apt-get install shellcheck|test/suites/shellcheck.sh"
  "actionlint|go|install Go 1.24+ (actionlint comes through the module proxy)|test/suites/actionlint.sh"
  "configs|go nginx sshd systemd-analyze|apt-get install nginx openssh-server systemd|test/suites/go-integration.sh ./configs/..."
  "ops|go jq flock|apt-get install jq util-linux|test/suites/go-integration.sh ./ops/..."
  "fleet|go jq flock|apt-get install jq util-linux|test/suites/go-integration.sh ./fleet/..."
  "verify|go jq curl|apt-get install jq curl|test/suites/go-integration.sh ./verify/..."
  "workflows|go bash|install Go 1.24+|test/suites/go-integration.sh ./workflows/..."
  "push|go podman skopeo docker-registry|apt-get install podman skopeo docker-registry (run as root)|test/suites/go-integration.sh ./push/..."
  "docs|go bash|install Go 1.24+|test/suites/go-integration.sh ./docs/..."
  "image|go podman debootstrap skopeo|apt-get install podman debootstrap skopeo (run as root)|test/suites/go-integration.sh ./image/..."
  "boot|go podman debootstrap systemd-nspawn|apt-get install podman debootstrap systemd-container (run as root)|test/suites/go-integration.sh ./boot/..."
  "signing|go podman debootstrap docker-registry|apt-get install podman debootstrap docker-registry (run as root)|env CGO_ENABLED=0 test/suites/go-integration.sh ./signing/... -tags containers_image_openpgp"
  "run|go podman debootstrap systemd-nspawn nsenter curl|apt-get install podman debootstrap systemd-container util-linux curl (run as root)|test/suites/go-integration.sh ./run/..."
  "simhost|go podman debootstrap skopeo systemd-nspawn docker-registry ssh ssh-keygen|apt-get install podman debootstrap skopeo systemd-container docker-registry openssh-client (run as root)|test/suites/go-integration.sh ./simhost/..."
  "bench-smoke|go podman debootstrap skopeo systemd-nspawn nginx wrk|apt-get install podman debootstrap skopeo systemd-container nginx wrk (run as root)|env BENCH_QUICK=1 test/bench/run.sh"
)

suite_names() { local s; for s in "${SUITES[@]}"; do printf '%s\n' "${s%%|*}"; done; }

wanted=()
while (($#)); do
  case $1 in
    -h | --help) usage ;;
    --list) suite_names; exit "$EX_OK" ;;
    -*) bad_arg "$1" ;;
    *)
      suite_names | grep -qx -- "$1" || usage_error "unknown suite '$1' (test/run-suites.sh --list names them)"
      wanted+=("$1")
      ;;
  esac
  shift
done

strict=false
[[ ${CI:-} == true || ${CI:-} == 1 ]] && strict=true

logdir="$ROOT/output/test-logs"
mkdir -p "$logdir"
passed=0 failed=0 skipped=0
results=()

for entry in "${SUITES[@]}"; do
  IFS='|' read -r name tools hint cmd <<<"$entry"
  if ((${#wanted[@]})); then
    printf '%s\n' "${wanted[@]}" | grep -qx -- "$name" || continue
  fi
  missing=()
  for t in $tools; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  if ((${#missing[@]})); then
    line="SKIP  $name: missing ${missing[*]} -- $hint"
    if $strict; then
      line="FAIL  $name: missing ${missing[*]} under CI=true -- $hint"
      failed=$((failed + 1))
    else
      skipped=$((skipped + 1))
    fi
    echo "$line"
    results+=("$line")
    continue
  fi
  echo "==> $name: $cmd"
  start=$SECONDS
  # The output goes to the terminal and to output/test-logs/<suite>.log.
  # shellcheck disable=SC2086 # cmd is a trusted word list from the table above
  if $cmd 2>&1 | tee "$logdir/$name.log"; then
    line="PASS  $name ($((SECONDS - start))s)"
    passed=$((passed + 1))
  else
    line="FAIL  $name ($((SECONDS - start))s, log: output/test-logs/$name.log)"
    failed=$((failed + 1))
  fi
  echo "$line"
  results+=("$line")
done

echo
echo "Summary:"
printf '  %s\n' "${results[@]}"
echo "suites: $passed passed, $failed failed, $skipped skipped"
((failed == 0))

#!/usr/bin/env bash
# Runs the benchmarks behind `make bench`: upgrade download size (ours against
# a naive layout, gzip and zstd layers), no-op rebuild, serving on loopback
# (direct, through nginx, nginx alone; durable visits with group commit
# against the per-visit baseline), footprint, boot-to-verified time, and reboot
# downtime in the simulated host (soft against full). Writes
# output/bench/results.md and results.json and prints the table.
#
# Goals are reported, never enforced; the run fails only when a section
# cannot produce its figures.
#
# Usage: test/bench/run.sh [--help]
# Environment:
#   BENCH_QUICK=1    smoke run at minimal sizes (part of `make test`)
#   BENCH_ONLY=a,b   run only these sections: footprint serving upgrade rebuild boot reboot
#   BENCH_OUT=DIR    where results go (default output/bench)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../../scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"

while (($#)); do
  case $1 in
    -h | --help) usage ;;
    *) bad_arg "$1" ;;
  esac
done

case ${BENCH_QUICK:-} in
  '' | 0 | 1) ;;
  *) usage_error "BENCH_QUICK must be 1 (quick), 0 or unset, not '$BENCH_QUICK'" ;;
esac

sections=(footprint serving upgrade rebuild boot reboot)
IFS=',' read -r -a only <<<"${BENCH_ONLY:-}"
for s in "${only[@]}"; do
  [[ " ${sections[*]} " == *" ${s// /} "* ]] ||
    usage_error "BENCH_ONLY: unknown section '$s' (sections: ${sections[*]})"
done

require_cmd go "install Go 1.24+"
require_cmd make "apt-get install make"

out=${BENCH_OUT:-$ROOT/output/bench}
mkdir -p "$out"
out=$(cd "$out" && pwd)
# A stale table must never pass for this run's.
rm -f "$out/results.md" "$out/results.json"

log "building the apps (make apps)"
make -C "$ROOT" --no-print-directory apps >&2

timeout=60m
[[ ${BENCH_QUICK:-} == 1 ]] && timeout=20m
status=0
(cd "$ROOT/test" && BENCH=1 BENCH_OUT="$out" go test -count=1 -v -timeout "$timeout" ./bench/) || status=$?

if [[ -f $out/results.md ]]; then
  echo
  cat "$out/results.md"
  echo
  echo "Written: ${out#"$ROOT"/}/results.md and ${out#"$ROOT"/}/results.json"
fi
if ((status != 0)); then
  die "make bench failed: a section could not produce its figures, or a check of the bench itself failed (see the go test output above)"
fi

#!/usr/bin/env bash
# greenboot runs this file from /usr/lib/greenboot/check/required.d, check/wanted.d and
# green.d, as `bash -C FILE` without arguments (fedora-iot/greenboot-rs
# src/lib/greenboot.rs run_scripts); the directory says which step this is. The gate
# itself is /usr/libexec/bootc-testboot/health-gate.sh (scripts/health-gate.sh).
set -euo pipefail
case ${BASH_SOURCE[0]} in
  */check/required.d/*) step=required ;;
  */check/wanted.d/*) step=wanted ;;
  */green.d/*) step=green ;;
  *) echo "greenboot-hook: run from a greenboot directory, not ${BASH_SOURCE[0]}" >&2; exit 2 ;;
esac
exec /usr/libexec/bootc-testboot/health-gate.sh "$step"

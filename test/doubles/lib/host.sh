# shellcheck shell=bash
# What a reboot does to the simulated host's deployments (the bootc double's status.json),
# shared by the systemctl and reboot doubles. Source it; never execute it.
#
# Modelled on ostree as bootc drives it:
#   - a queued rollback (bootc-dev/bootc crates/lib/src/deploy.rs `rollback` wrote the
#     rollback deployment first in the boot order) boots the rollback deployment, and the
#     one that was booted becomes the rollback;
#   - a staged deployment is finalized by ostree-finalize-staged.service during the
#     orderly shutdown and boots next, the booted one becoming the rollback; the previous
#     rollback is garbage-collected (ostree keeps booted + rollback);
#   - a staged deployment whose finalization is locked (`bootc upgrade --download-only`)
#     is not finalized and is gone after the reboot (bootc docs/src/upgrades.md, tmt test
#     test-download-only-upgrade.nu asserts `status.staged == null` after the reboot).
#   - after bootc prepared a soft reboot (bootc/soft-reboot, see the bootc double), the
#     reboot restarts userspace only: counted in host/soft-boots as well.
# Every reboot increments $DOUBLES_STATE/host/boots, so a test can wait for one.

host_reboot() {
  local st=${DOUBLES_STATE:-/nonexistent}
  local f=$st/bootc/status.json tmp
  if [[ -f $f ]] && jq -e '.status.booted != null' "$f" >/dev/null 2>&1; then
    tmp=$(mktemp "$st/bootc/.status.XXXXXX")
    jq -cS '
      .status as $s
      | if $s.rollbackQueued then
          .status.booted = $s.rollback | .status.rollback = $s.booted
        elif $s.staged != null and ($s.staged.downloadOnly | not) then
          .status.booted = ($s.staged + {downloadOnly: false}) | .status.rollback = $s.booted
        else . end
      | .status.staged = null | .status.rollbackQueued = false | .spec.bootOrder = "default"
      | .spec.image = .status.booted.image.image' "$f" >"$tmp"
    mv "$tmp" "$f"
  fi
  mkdir -p "$st/host"
  if [[ -f $st/bootc/soft-reboot ]]; then
    rm -f "$st/bootc/soft-reboot"
    echo $(($(cat "$st/host/soft-boots" 2>/dev/null || echo 0) + 1)) >"$st/host/soft-boots"
  fi
  echo $(($(cat "$st/host/boots" 2>/dev/null || echo 0) + 1)) >"$st/host/boots"
}

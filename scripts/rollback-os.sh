#!/usr/bin/env bash
# Roll a bootc host back to its previous deployment and reboot into it. Runs on the host
# as root; from a workstation: `make os-rollback HOST=user@ip` (scripts/on-host.sh).
#
# Usage: rollback-os.sh [--yes] [--full-reboot]
#
# Shows what will boot (digest, version) and what is left, then asks (unless --yes).
# Before rebooting it records the abandoned digest as bad, so upgrade-os.sh refuses to
# stage it again (unless --force).
#
# What a rollback does and does not do:
#   - /var is NOT rolled back: data and schema changes written by the newer version stay;
#   - /etc is the rollback deployment's own copy: edits made since the upgrade are not in it;
#   - a staged deployment (including a downloaded update) is discarded.
#
# Options:
#   --yes          roll back without asking (without a terminal it refuses unless --yes)
#   --full-reboot  reboot fully even when bootc could restart only userspace (by default
#                  a soft reboot is used when bootc reports the rollback deployment as
#                  soft-reboot capable: same kernel, initramfs and kernel arguments)
#   -h, --help     this help
#
# Exit status: 0 the rollback is queued and the reboot started (as systemd unit
# bootc-testboot-rollback, so an SSH session returns cleanly first), 1 failure (nothing
# changed, no reboot), 2 usage error, 3 another bootc-testboot operation is running.
#
# bootc >= 1.1.7 runs `bootc rollback --apply`; older bootc `bootc rollback` and then
# `systemctl reboot`.
#
# Files: $TESTBOOT_STATE_DIR/bad-digests (default /var/lib/bootc-testboot), lock
# $TESTBOOT_LOCK (default /run/bootc-testboot/lock, root only). Every action goes to the journal.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

readonly ROLLBACK_UNIT=bootc-testboot-rollback
# `bootc rollback --apply` appeared in bootc 1.1.7.
readonly MIN_ROLLBACK_APPLY=1.1.7

ASSUME_YES=0 full_reboot=false
while (($#)); do
  case $1 in
    -h | --help) usage ;;
    --yes) ASSUME_YES=1 ;;
    --full-reboot) full_reboot=true ;;
    *) bad_arg "$1" ;;
  esac
  shift
done

require_cmd jq
require_cmd bootc "this is not a bootc host"
require_cmd systemd-run "systemd"
require_root
take_lock

s=$(bootc_status)
require_bootc_host "$s"
[[ $(jq -r '.status.rollback != null' <<<"$s") == true ]] ||
  die "there is no rollback deployment on this host; nothing to roll back to"
[[ $(jq -r '.status.rollbackQueued // false' <<<"$s") == false ]] ||
  die "a rollback is already queued for the next boot (running bootc rollback again would cancel it); reboot to complete it"
[[ $(jq -r '.status.rollback.image != null' <<<"$s") == true ]] ||
  die "the rollback deployment is not container image based; bootc cannot roll back to it"

booted=$(digest_at .status.booted.image.imageDigest "$s")
booted_version=$(jq -r '.status.booted.image.version // empty' <<<"$s")
target=$(jq -r '.status.rollback.image.imageDigest' <<<"$s")

v=$(bootc_version)
kind=full soft=()
ver_ge "$v" "$MIN_ROLLBACK_APPLY" && kind=$(reboot_kind "$s" rollback "$v" "$full_reboot")
[[ $kind == full ]] || soft=(--soft-reboot=auto)

printf 'will boot: %s\n' "$(describe_image .status.rollback.image "$s")"
printf 'leaving:   %s\n' "$(describe_image .status.booted.image "$s")"
printf 'reboot:    %s\n' "$(describe_reboot "$kind" rollback "$full_reboot")"
warn "/var is not rolled back: data written by the current version stays as it is"
if [[ $(jq -r '.status.staged != null' <<<"$s") == true ]]; then
  warn "the staged deployment $(jq -r '.status.staged.image.imageDigest // "(not an image)"' <<<"$s") will be discarded"
fi

confirm "Roll back to $target and reboot now?" || die "not confirmed; nothing changed"

if ver_ge "$v" "$MIN_ROLLBACK_APPLY"; then
  # From here to the start of the unit a dropped SSH session must not stop us halfway
  # (the digest recorded as bad but no rollback): hangups and closed pipes are ignored.
  trap '' HUP PIPE
  # Recorded first: the detached unit reboots the machine.
  record_bad_digest "$booted" "$booted_version" "rolled back by rollback-os.sh"
  run_detached "$ROLLBACK_UNIT" bootc rollback --apply "${soft[@]}" ||
    die "could not start systemd unit $ROLLBACK_UNIT; nothing rolled back ($booted stays recorded as bad)"
  log "rolling back from $booted to $target: $kind reboot (unit $ROLLBACK_UNIT: bootc rollback --apply${soft:+ ${soft[*]}})" || true
else
  trap '' HUP PIPE
  bootc rollback >&2 || die "bootc rollback failed (see the error above)"
  s=$(bootc_status)
  [[ $(jq -r '.status.rollbackQueued // false' <<<"$s") == true ]] ||
    die "bootc rollback did not queue the rollback deployment; not rebooting"
  record_bad_digest "$booted" "$booted_version" "rolled back by rollback-os.sh"
  log "rolling back from $booted to $target: full reboot (systemctl reboot; bootc $v)"
  systemctl reboot || die "systemctl reboot failed; the rollback is queued for the next reboot"
fi
echo "rolling back to $target; $booted is recorded as bad in $(testboot_state_dir)/bad-digests"

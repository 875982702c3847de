#!/usr/bin/env bash
# Production-safe OS upgrades of a bootc host: check, download (staged but locked),
# apply (reboot into it), status. Runs on the host as root; from a workstation use
# `make os-check HOST=user@ip` (scripts/on-host.sh) or `scripts/on-host.sh --host user@ip
# upgrade-os.sh ACTION`.
#
# Usage: upgrade-os.sh ACTION [OPTIONS]
#
# Actions:
#   status     show the booted, staged and rollback deployments (read-only)
#   check      ask the registry for a newer image (fetches only its manifest) and compare
#              it with the booted one
#   download   download the newer image and stage it locked (bootc upgrade --download-only):
#              it is NOT applied by a reboot; only `apply` applies it. A reboot before
#              `apply` discards the download (the current deployment boots again)
#   apply      apply the downloaded update: reboot into it now (bootc upgrade
#              --from-downloaded --apply, started as a systemd unit so an SSH session
#              returns before the machine goes down)
#
# Options:
#   --yes      apply without asking (apply asks on a terminal and refuses without one)
#   --force    download or apply an image that a rollback recorded as bad, or apply a
#              staged image other than the one `download` recorded
#   --json     status: print bootc's status document (JSON) unchanged
#   -h, --help this help
#
# Exit status:
#   0   success; for check: the booted image is the newest
#   10  check: an update is available
#   1   failure (the error names it); nothing is rebooted on any error
#   2   usage error
#   3   another bootc-testboot operation is running on this host (upgrade or rollback)
#
# Needs bootc >= 1.12.0 for download and apply. On an older bootc, `bootc upgrade`
# stages the update for the next reboot (any reboot applies it); `apply` then reboots
# into a staged update with `systemctl reboot`.
#
# State (persistent, under /var so it survives upgrades and rollbacks):
#   $TESTBOOT_STATE_DIR (default /var/lib/bootc-testboot)
#     expected-digest   the digest `download` staged: after the reboot, check it with
#                       verify-instance.sh --expect-digest "$(cat .../expected-digest)"
#     bad-digests       digests abandoned by rollback-os.sh; refused unless --force
#   $TESTBOOT_LOCK (default /run/lock/bootc-testboot.lock): one operation at a time
# Every action is logged to the journal (journalctl -t bootc-testboot/upgrade-os.sh).
#
# Mask bootc-fetch-apply-updates.timer on hosts managed this way: it runs
# `bootc upgrade --apply`, which unlocks and reboots on its own schedule.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

readonly EX_UPDATE_AVAILABLE=10
readonly APPLY_UNIT=bootc-testboot-apply
# --download-only / --from-downloaded appeared in bootc 1.12.0.
readonly MIN_DOWNLOAD_ONLY=1.12.0

action="" force=false json=false
ASSUME_YES=0
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --yes) ASSUME_YES=1 ;;
    --force) force=true ;;
    --json) json=true ;;
    -*) usage_error "unknown option '$1'" ;;
    *)
      [[ -z $action ]] || usage_error "unexpected argument '$1' (one action at a time)"
      case $1 in
        status | check | download | apply) action=$1 ;;
        *) usage_error "unknown action '$1' (status, check, download or apply)" ;;
      esac
      ;;
  esac
  shift
done
[[ -n $action ]] || usage_error "no action given (status, check, download or apply)"
[[ $action == status || $json == false ]] || usage_error "--json is for status only"
[[ $action == apply || $ASSUME_YES == 0 ]] || usage_error "--yes is for apply only"
[[ $action == download || $action == apply || $force == false ]] || usage_error "--force is for download and apply only"

require_cmd jq
require_cmd bootc "this is not a bootc host"
require_root

digest_at() { jq -r "$1 // empty" <<<"$2"; }

# refuse_bad DIGEST WHAT: stop unless --force when a rollback abandoned DIGEST.
refuse_bad() {
  local note
  note=$(bad_digest_note "$1")
  [[ -n $note ]] || return 0
  if $force; then
    warn "$2 $1 was recorded as bad by a rollback (${note#*$'\t'}); continuing because of --force"
    return 0
  fi
  die "$2 $1 was recorded as bad by a rollback on ${note#*$'\t'}; refusing it (--force overrides)"
}

do_status() {
  local s
  s=$(bootc_status)
  if $json; then
    printf '%s\n' "$s"
    return 0
  fi
  require_bootc_host "$s"
  local ref booted cached staged expected
  ref=$(jq -r '.spec.image.image // .status.booted.image.image.image // "unknown"' <<<"$s")
  booted=$(digest_at .status.booted.image.imageDigest "$s")
  cached=$(digest_at .status.booted.cachedUpdate.imageDigest "$s")
  staged=$(digest_at .status.staged.image.imageDigest "$s")
  printf 'image:     %s\n' "$ref"
  printf 'booted:    %s\n' "$(describe_image .status.booted.image "$s")"
  if [[ -n $staged ]]; then
    printf 'staged:    %s\n' "$(describe_image .status.staged.image "$s")"
    if [[ $(jq -r '.status.staged.downloadOnly // false' <<<"$s") == true ]]; then
      printf '           download-only: applied only by "upgrade-os.sh apply"; a reboot discards it\n'
    else
      printf '           applied at the next reboot\n'
    fi
  else
    printf 'staged:    none\n'
  fi
  printf 'rollback:  %s\n' "$(describe_image .status.rollback.image "$s")"
  if [[ $(jq -r '.status.rollbackQueued // false' <<<"$s") == true ]]; then
    printf 'next boot: the rollback deployment (rollback queued)\n'
  fi
  if [[ -z $cached ]]; then
    printf 'update:    unknown (run "upgrade-os.sh check")\n'
  elif [[ $cached == "$booted" ]]; then
    printf 'update:    none at the last check\n'
  else
    printf 'update:    %s at the last check\n' "$(describe_image .status.booted.cachedUpdate "$s")"
  fi
  expected=$(cat "$(testboot_state_dir)/expected-digest" 2>/dev/null || true)
  [[ -z $expected ]] || printf 'expected:  %s (recorded by download)\n' "$expected"
  if [[ -f $(testboot_state_dir)/bad-digests ]]; then
    awk -F '\t' '{ printf "bad:       %s (abandoned by a rollback on %s)\n", $1, $2 }' "$(testboot_state_dir)/bad-digests"
  fi
}

# run_check: bootc upgrade --check, then the document it updated.
run_check() {
  log "checking the registry for an update (bootc upgrade --check)"
  bootc upgrade --check >&2 || die "bootc upgrade --check failed (see the error above)"
  bootc_status
}

do_check() {
  take_lock
  local s booted cached staged
  s=$(bootc_status)
  require_bootc_host "$s"
  s=$(run_check)
  booted=$(digest_at .status.booted.image.imageDigest "$s")
  cached=$(digest_at .status.booted.cachedUpdate.imageDigest "$s")
  staged=$(digest_at .status.staged.image.imageDigest "$s")
  printf 'booted:    %s\n' "$(describe_image .status.booted.image "$s")"
  # bootc leaves cachedUpdate null or equal to the booted digest when nothing is newer.
  if [[ -z $cached || $cached == "$booted" ]]; then
    printf 'available: same as booted\n'
    log "up to date: $booted"
    echo "up to date"
    return 0
  fi
  printf 'available: %s\n' "$(describe_image .status.booted.cachedUpdate "$s")"
  [[ $staged != "$cached" ]] || printf 'staged:    already (run "upgrade-os.sh apply" to reboot into it)\n'
  if [[ -n $(bad_digest_note "$cached") ]]; then
    warn "the available image $cached was recorded as bad by a rollback; download refuses it without --force"
  fi
  log "update available: $cached (booted $booted)"
  echo "update available"
  return "$EX_UPDATE_AVAILABLE"
}

do_download() {
  take_lock
  local s v booted cached staged
  s=$(bootc_status)
  require_bootc_host "$s"
  v=$(bootc_version)
  if ! ver_ge "$v" "$MIN_DOWNLOAD_ONLY"; then
    die "bootc $v cannot download without applying (--download-only needs bootc >= $MIN_DOWNLOAD_ONLY);" \
      "on this host 'bootc upgrade' stages the update for the next reboot, then 'upgrade-os.sh apply' reboots into it"
  fi
  # Decide on the registry's digest BEFORE downloading: a bad digest is never staged.
  s=$(run_check)
  booted=$(digest_at .status.booted.image.imageDigest "$s")
  cached=$(digest_at .status.booted.cachedUpdate.imageDigest "$s")
  staged=$(digest_at .status.staged.image.imageDigest "$s")
  if [[ -z $cached || $cached == "$booted" ]]; then
    log "up to date: $booted; nothing to download"
    echo "up to date"
    return 0
  fi
  refuse_bad "$cached" "the available image"
  if [[ $staged == "$cached" && $(jq -r '.status.staged.downloadOnly' <<<"$s") == true ]]; then
    log "already downloaded: $cached"
  else
    log "downloading $cached (bootc upgrade --download-only)"
    bootc upgrade --download-only >&2 || die "bootc upgrade --download-only failed (see the error above)"
  fi
  s=$(bootc_status)
  staged=$(digest_at .status.staged.image.imageDigest "$s")
  [[ -n $staged ]] || die "bootc upgrade --download-only staged nothing"
  [[ $(jq -r '.status.staged.downloadOnly // false' <<<"$s") == true ]] ||
    die "the staged deployment $staged is not download-only: it would be applied at the next reboot"
  # The registry may have moved between check and download; the staged digest is what counts.
  [[ $staged == "$cached" ]] || warn "the registry moved during the download: staged $staged, checked $cached"
  refuse_bad "$staged" "the staged image (locked: not applied at reboot; apply refuses it)"
  local dir
  dir=$(testboot_state_dir)
  mkdir -p "$dir" || die "cannot create $dir"
  printf '%s\n' "$staged" >"$dir/expected-digest" || die "cannot write $dir/expected-digest"
  log "downloaded and staged (locked): $staged; expected digest recorded in $dir/expected-digest"
  warn "a reboot before 'upgrade-os.sh apply' discards this download (the current deployment boots again)"
  printf 'staged:    %s\n' "$(describe_image .status.staged.image "$s")"
  printf 'next:      upgrade-os.sh apply   (reboots into it)\n'
}

do_apply() {
  require_cmd systemd-run "systemd"
  take_lock
  local s v staged expected locked
  s=$(bootc_status)
  require_bootc_host "$s"
  staged=$(digest_at .status.staged.image.imageDigest "$s")
  [[ -n $staged ]] || die "nothing is staged; run 'upgrade-os.sh download' first"
  locked=$(jq -r '.status.staged.downloadOnly // false' <<<"$s")
  refuse_bad "$staged" "the staged image"
  local dir
  dir=$(testboot_state_dir)
  expected=$(cat "$dir/expected-digest" 2>/dev/null || true)
  if [[ -n $expected && $expected != "$staged" ]]; then
    $force || die "the staged image $staged is not the one 'download' recorded ($expected); --force applies it anyway"
    warn "applying $staged instead of the recorded $expected because of --force"
  fi
  v=$(bootc_version)
  if [[ $locked == true ]] && ! ver_ge "$v" "$MIN_DOWNLOAD_ONLY"; then
    die "the staged deployment is download-only but bootc $v has no --from-downloaded"
  fi
  printf 'apply:     %s\n' "$(describe_image .status.staged.image "$s")"
  printf 'booted:    %s\n' "$(describe_image .status.booted.image "$s")"
  confirm "Reboot into $staged now?" || die "not confirmed; nothing changed"
  mkdir -p "$dir" || die "cannot create $dir"
  printf '%s\n' "$staged" >"$dir/expected-digest" || die "cannot write $dir/expected-digest"
  if ver_ge "$v" "$MIN_DOWNLOAD_ONLY"; then
    # Unlock here, where an error is visible and stops us; the detached unit only reboots.
    bootc upgrade --from-downloaded >&2 || die "bootc upgrade --from-downloaded failed (see the error above)"
    log "applying $staged: rebooting (unit $APPLY_UNIT: bootc upgrade --from-downloaded --apply)"
    run_detached "$APPLY_UNIT" bootc upgrade --from-downloaded --apply ||
      die "could not start systemd unit $APPLY_UNIT; $staged is unlocked: the next reboot applies it"
  else
    # Older bootc: a staged deployment is applied by any orderly reboot.
    log "applying $staged: rebooting (unit $APPLY_UNIT: systemctl reboot; bootc $v)"
    run_detached "$APPLY_UNIT" systemctl reboot ||
      die "could not start systemd unit $APPLY_UNIT; $staged stays staged for the next reboot"
  fi
  echo "rebooting into $staged (journalctl -u $APPLY_UNIT); afterwards: verify-instance.sh --expect-digest $staged"
}

case $action in
  status) do_status ;;
  check) do_check ;;
  download) do_download ;;
  apply) do_apply ;;
esac

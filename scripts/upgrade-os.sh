#!/usr/bin/env bash
# Production-safe OS upgrades of a bootc host: check, download (staged but locked),
# apply (reboot into it), status. Runs on the host as root; from a workstation use
# `make os-check HOST=user@ip` (scripts/on-host.sh) or `scripts/on-host.sh --host user@ip
# upgrade-os.sh ACTION`.
#
# Usage: upgrade-os.sh ACTION [OPTIONS]
#
# Actions:
#   status     show the booted, staged and rollback deployments and the result of the
#              last check (read-only, no registry access)
#   check      ask the registry which image the tracked reference serves now (manifest
#              and config only) and compare it with the booted and staged images
#   download   download that image and stage it locked (bootc upgrade --download-only):
#              it is NOT applied by a reboot; only `apply` applies it. A newer image
#              replaces an older download. A reboot before `apply` discards the download
#              (the current deployment boots again)
#   apply      apply the downloaded update: reboot into it now (bootc upgrade
#              --from-downloaded --apply, started as a systemd unit so an SSH session
#              returns before the machine goes down)
#
# Options:
#   --yes              apply without asking (apply asks on a terminal, refuses without one)
#   --force            download or apply an image that a rollback recorded as bad, or apply
#                      a staged image other than the one `download` recorded
#   --full-reboot      apply: reboot fully even when bootc could restart only userspace
#                      (by default apply uses a soft reboot when bootc reports the
#                      staged image as soft-reboot capable: same kernel, initramfs and
#                      kernel arguments, so firmware, bootloader and kernel start are
#                      skipped)
#   --allow-downgrade  download or apply an image built before the booted one (refused
#                      otherwise: an old image on the tracked tag, by mistake or by an
#                      attacker, would bring back fixed vulnerabilities)
#   --json             status: print bootc's status document (JSON) unchanged
#   -h, --help         this help
#
# Exit status:
#   0   success; for check: the booted image is what the registry serves
#   10  check: an update is available
#   11  check: the registry serves an image built before the booted one (or one without
#       a build time): not an update; download refuses it without --allow-downgrade
#   1   failure (the error names it); nothing is rebooted on any error
#   2   usage error
#   3   another bootc-testboot operation is running on this host (upgrade or rollback)
#
# How an update is found: the registry is asked directly with skopeo (bootc's own image
# proxy, same credentials), and its answer is compared with the booted and staged
# digests. `bootc upgrade --check` and status.*.cachedUpdate compare with the image
# last pulled, not the booted one, so after a download or a rollback they can name the
# wrong image (see registry_image in lib/common.sh).
#
# Needs bootc >= 1.12.0 for download and apply. On an older bootc (CentOS Stream 10
# shipped 1.11 in early 2026), `sudo bootc upgrade` stages the update for the next
# reboot, which any reboot applies; `apply` then reboots into it with `systemctl reboot`.
#
# State (persistent, under /var so it survives upgrades and rollbacks):
#   $TESTBOOT_STATE_DIR (default /var/lib/bootc-testboot)
#     last-check        what the last check found (status shows it)
#     expected-digest   the digest `download` staged: after the reboot, check it with
#                       verify-instance.sh --expect-digest "$(cat .../expected-digest)"
#     bad-digests       digests abandoned by rollback-os.sh; refused unless --force
#   $TESTBOOT_LOCK (default /run/bootc-testboot/lock): one operation at a time
# Every action is logged to the journal (journalctl -t bootc-testboot/upgrade-os.sh).
#
# Mask bootc-fetch-apply-updates.timer on hosts managed this way: it runs
# `bootc upgrade --apply`, which unlocks and reboots on its own schedule.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

readonly EX_UPDATE_AVAILABLE=10 EX_OLDER_IMAGE=11
readonly APPLY_UNIT=bootc-testboot-apply
# --download-only / --from-downloaded appeared in bootc 1.12.0.
readonly MIN_DOWNLOAD_ONLY=1.12.0

action="" force=false json=false allow_downgrade=false full_reboot=false
ASSUME_YES=0
# parse_args ARG...: the action and its options, all checked before anything runs.
parse_args() {
  while (($#)); do
    case $1 in
      -h | --help) usage ;;
      --yes) ASSUME_YES=1 ;;
      --force) force=true ;;
      --allow-downgrade) allow_downgrade=true ;;
      --full-reboot) full_reboot=true ;;
      --json) json=true ;;
      -*) bad_arg "$1" ;;
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
  [[ $action == apply || $full_reboot == false ]] || usage_error "--full-reboot is for apply only"
  [[ $action == download || $action == apply || $force == false ]] || usage_error "--force is for download and apply only"
  [[ $action == download || $action == apply || $allow_downgrade == false ]] ||
    usage_error "--allow-downgrade is for download and apply only"
}

# refuse_bad DIGEST WHAT: stop unless --force when a rollback abandoned DIGEST.
refuse_bad() {
  local note
  note=$(bad_digest_note "$1")
  [[ -n $note ]] || return 0
  if $force; then
    warn "$2 $1 was recorded as bad by a rollback ($(bad_digest_why "$note")); continuing because of --force"
    return 0
  fi
  die "$2 $1 was recorded as bad by a rollback on $(bad_digest_why "$note"); refusing it (--force overrides)"
}

# refuse_older IMAGE_JSON WHAT: stop unless --allow-downgrade when IMAGE may be older than
# the booted image. Rollbacks are not affected: they never come through here.
refuse_older() {
  local why
  why=$(downgrade_problem "$1" "$(jq -c '.status.booted.image' <<<"$s")")
  [[ -n $why ]] || return 0
  if $allow_downgrade; then
    warn "$2 $(jq -r .imageDigest <<<"$1") may be a downgrade: $why; continuing because of --allow-downgrade"
    return 0
  fi
  die "$2 $(jq -r .imageDigest <<<"$1") is refused as a downgrade: $why (--allow-downgrade accepts it)"
}

# describe JSON: "sha256:... (version V, built T)" of an ImageStatus.
describe() { describe_image . "$1"; }

# query_registry: the host's state and what the registry serves now for the tracked
# reference. Sets s (status document), ref, booted, staged, locked, avail (ImageStatus)
# and avail_digest, and records the answer in the state directory for `status`.
query_registry() {
  s=$(bootc_status)
  require_bootc_host "$s"
  local transport arch
  ref=$(jq -r '.spec.image.image // .status.booted.image.image.image // empty' <<<"$s")
  transport=$(jq -r '.spec.image.transport // .status.booted.image.image.transport // empty' <<<"$s")
  [[ -n $ref ]] || die "bootc status names no image this host tracks (spec.image is null)"
  [[ $transport == registry ]] ||
    die "this host tracks $ref over the '$transport' transport; check and download need a registry image (bootc switch to one)"
  arch=$(jq -r '.status.booted.image.architecture // empty' <<<"$s")
  [[ -n $arch ]] || die "bootc status gives no architecture for the booted image"
  booted=$(digest_at .status.booted.image.imageDigest "$s")
  staged=$(digest_at .status.staged.image.imageDigest "$s")
  locked=$(jq -r '.status.staged.downloadOnly // false' <<<"$s")
  if [[ -f ${TESTBOOT_ROOT:-}/usr/share/bootc-testboot/signing.json &&
    $(jq -r '.spec.image.signature // "none" | if type == "string" then . else "other" end' <<<"$s") != containerPolicy ]]; then
    # bootc applies policy.json to its pulls either way (skopeo inspect here does not);
    # without enforcement, a policy.json edited to accept anything would go unnoticed.
    warn "bootc does not enforce the signature policy on this host (spec.image.signature: none); make verify shows bootc-sigpolicy"
  fi
  log "asking the registry which image $ref serves (skopeo inspect)"
  avail=$(registry_image "$ref" "$arch")
  avail_digest=$(jq -r .imageDigest <<<"$avail")
  local dir
  dir=$(testboot_state_dir)
  if mkdir -p "$dir" 2>/dev/null; then
    if ! { jq -c --arg at "$(utc_now)" '{checked: $at, available: .}' <<<"$avail" >"$dir/last-check.tmp" &&
      mv "$dir/last-check.tmp" "$dir/last-check"; }; then
      warn "cannot record the check in $dir/last-check"
    fi
  else
    warn "cannot create $dir; the check is not recorded"
  fi
}

# staged_note: what the staged deployment means next to the registry's image.
staged_note() {
  [[ -n $staged ]] || return 0
  if [[ $staged == "$avail_digest" ]]; then
    if [[ $locked == true ]]; then
      printf 'staged:    already downloaded (run "upgrade-os.sh apply" to reboot into it)\n'
    else
      printf 'staged:    already staged; the next reboot applies it\n'
    fi
  else
    printf 'staged:    %s, which the registry no longer serves\n' "$(describe_image .status.staged.image "$s")"
  fi
}

do_status() {
  s=$(bootc_status)
  if $json; then
    printf '%s\n' "$s"
    return 0
  fi
  require_bootc_host "$s"
  local ref booted staged expected dir last avail d
  ref=$(jq -r '.spec.image.image // .status.booted.image.image.image // "unknown"' <<<"$s")
  booted=$(digest_at .status.booted.image.imageDigest "$s")
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
  # Our own record of the last check, never bootc's cachedUpdate (see the header).
  dir=$(testboot_state_dir)
  last=$(cat "$dir/last-check" 2>/dev/null || true)
  if [[ -z $last ]] || ! jq -e '.available.imageDigest and .checked' >/dev/null 2>&1 <<<"$last" ||
    [[ $(jq -r .available.image.image <<<"$last") != "$ref" ]]; then
    printf 'update:    unknown (run "upgrade-os.sh check")\n'
  else
    avail=$(jq -c .available <<<"$last")
    d=$(jq -r .imageDigest <<<"$avail")
    if [[ $d == "$booted" ]]; then
      printf 'update:    none at the last check (%s)\n' "$(jq -r .checked <<<"$last")"
    elif [[ -n $(downgrade_problem "$avail" "$(jq -c .status.booted.image <<<"$s")") ]]; then
      printf 'update:    none: the registry served an older image at the last check (%s): %s\n' \
        "$(jq -r .checked <<<"$last")" "$(describe "$avail")"
    elif [[ $d == "$staged" ]]; then
      printf 'update:    %s at the last check (%s), staged\n' "$(describe "$avail")" "$(jq -r .checked <<<"$last")"
    else
      printf 'update:    %s at the last check (%s)\n' "$(describe "$avail")" "$(jq -r .checked <<<"$last")"
    fi
  fi
  expected=$(cat "$dir/expected-digest" 2>/dev/null || true)
  [[ -z $expected ]] || printf 'expected:  %s (recorded by download)\n' "$expected"
  if [[ -f $dir/bad-digests ]]; then
    awk -F '\t' '{ printf "bad:       %s (abandoned by a rollback on %s%s)\n", $1, $2, ($4 == "" ? "" : ": " $4) }' "$dir/bad-digests"
  fi
  health_status_lines
}

# health_status_lines: what the boot health gate recorded (scripts/health-gate.sh).
health_status_lines() {
  local good last
  good=$(cat "$(last_known_good_file)" 2>/dev/null || true)
  [[ -z $good ]] || awk -F '\t' 'NR == 1 { printf "good:      %s (version %s, last known good: passed the health gate on %s)\n", $1, ($3 == "" ? "unknown" : $3), $2 }' <<<"$good"
  last=$(cat "$(health_last_file)" 2>/dev/null || true)
  jq -e '.result and .digest' >/dev/null 2>&1 <<<"$last" || return 0
  jq -r '"health:    \(.result) on \(.digest) at \(.at)" +
    (if .result == "held" then ": the rollback deployment is recorded as bad, so the boot was not failed; waiting for an operator" else "" end) +
    (if (.failed // []) | length > 0 then " (failed: \(.failed | join(" ")))" else "" end)' <<<"$last"
}

do_check() {
  take_lock
  query_registry
  printf 'booted:    %s\n' "$(describe_image .status.booted.image "$s")"
  if [[ $avail_digest == "$booted" ]]; then
    printf 'available: same as booted\n'
    staged_note
    log "up to date: $booted"
    echo "up to date"
    return 0
  fi
  printf 'available: %s\n' "$(describe "$avail")"
  staged_note
  local why
  why=$(downgrade_problem "$avail" "$(jq -c .status.booted.image <<<"$s")")
  if [[ -n $why ]]; then
    warn "the registry serves $avail_digest but $why; download refuses it without --allow-downgrade"
    echo "older image: not an update"
    return "$EX_OLDER_IMAGE"
  fi
  if [[ -n $(bad_digest_note "$avail_digest") ]]; then
    warn "the available image $avail_digest was recorded as bad by a rollback; download refuses it without --force"
  fi
  log "update available: $avail_digest (booted $booted)"
  echo "update available"
  return "$EX_UPDATE_AVAILABLE"
}

# signature_refusal ERR: what to tell the operator when bootc's error is the signature
# policy refusing the image (containers/image signature/policy_eval_*.go messages), or
# nothing.
signature_refusal() {
  local line
  line=$(grep -m1 -E 'A signature was required|signature verification failed|Signature for (digest|identity) .* (does not match|is not accepted)|None of the signatures were accepted|is rejected by policy' <<<"$1" || true)
  if [[ -n $line ]]; then
    echo "the image the registry serves for $ref is not signed by a key this host trusts (/etc/containers/policy.json): $line; nothing was staged"
  elif grep -qF 'specifies a default of' <<<"$1" && grep -qF 'insecureAcceptAnything' <<<"$1"; then
    echo "bootc refuses to check signatures: /etc/containers/policy.json accepts anything by default (edited on this host? compare /usr/etc/containers/policy.json)"
  fi
}

# bootc_download: bootc upgrade --download-only, its output shown as it comes; a failure
# says whether the signature policy refused the image.
bootc_download() {
  local tmp why
  tmp=$(mktemp -d) || die "cannot create a temporary directory"
  if ! { bootc upgrade --download-only 2>&1 1>&3 | tee "$tmp/err" >&2; } 3>&2; then
    why=$(signature_refusal "$(<"$tmp/err")")
    rm -rf "$tmp"
    [[ -z $why ]] || die "$why"
    die "bootc upgrade --download-only failed (see the error above)"
  fi
  rm -rf "$tmp"
}

do_download() {
  take_lock
  local v
  s=$(bootc_status)
  require_bootc_host "$s"
  v=$(bootc_version)
  if ! ver_ge "$v" "$MIN_DOWNLOAD_ONLY"; then
    die "bootc $v cannot download without applying (--download-only needs bootc >= $MIN_DOWNLOAD_ONLY);" \
      "instead run 'sudo bootc upgrade' (it stages the update for the next reboot, and any reboot applies it), then 'upgrade-os.sh apply'"
  fi
  # Decide on the registry's answer BEFORE downloading: a refused image is never staged.
  query_registry
  if [[ $avail_digest == "$booted" ]]; then
    if [[ -n $staged ]]; then
      warn "the staged deployment $staged is not what the registry serves (the booted image);" \
        "it stays $([[ $locked == true ]] && echo "locked: a reboot discards it" || echo "staged: the next reboot applies it")"
    fi
    log "up to date: $booted; nothing to download"
    echo "up to date"
    return 0
  fi
  refuse_older "$avail" "the available image"
  refuse_bad "$avail_digest" "the available image"
  if [[ $staged == "$avail_digest" && $locked == true ]]; then
    log "already downloaded: $avail_digest"
  else
    [[ -z $staged || $staged == "$avail_digest" ]] || log "replacing the staged $staged with $avail_digest"
    log "downloading $avail_digest (bootc upgrade --download-only)"
    bootc_download
  fi
  s=$(bootc_status)
  staged=$(digest_at .status.staged.image.imageDigest "$s")
  [[ -n $staged ]] || die "bootc upgrade --download-only staged nothing"
  [[ $(jq -r '.status.staged.downloadOnly // false' <<<"$s") == true ]] ||
    die "the staged deployment $staged is not download-only: it would be applied at the next reboot"
  if [[ $staged != "$avail_digest" ]]; then
    # The registry moved between the check and the download: judge what was staged.
    warn "the registry moved during the download: staged $staged, checked $avail_digest"
    refuse_older "$(jq -c .status.staged.image <<<"$s")" "the staged image (locked: not applied at reboot)"
    refuse_bad "$staged" "the staged image (locked: not applied at reboot; apply refuses it)"
  fi
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
  local v staged expected locked
  s=$(bootc_status)
  require_bootc_host "$s"
  staged=$(digest_at .status.staged.image.imageDigest "$s")
  [[ -n $staged ]] || die "nothing is staged; run 'upgrade-os.sh download' first"
  locked=$(jq -r '.status.staged.downloadOnly // false' <<<"$s")
  refuse_bad "$staged" "the staged image"
  refuse_older "$(jq -c .status.staged.image <<<"$s")" "the staged image"
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
  local kind soft=()
  kind=full
  ver_ge "$v" "$MIN_DOWNLOAD_ONLY" && kind=$(reboot_kind "$s" staged "$v" "$full_reboot")
  [[ $kind == full ]] || soft=(--soft-reboot=auto)
  printf 'apply:     %s\n' "$(describe_image .status.staged.image "$s")"
  printf 'booted:    %s\n' "$(describe_image .status.booted.image "$s")"
  printf 'reboot:    %s\n' "$(describe_reboot "$kind" staged "$full_reboot")"
  confirm "Reboot into $staged now?" || die "not confirmed; nothing changed"
  mkdir -p "$dir" || die "cannot create $dir"
  printf '%s\n' "$staged" >"$dir/expected-digest" || die "cannot write $dir/expected-digest"
  if ver_ge "$v" "$MIN_DOWNLOAD_ONLY"; then
    # From the unlock to the start of the reboot unit nothing may stop us: an SSH
    # session that drops in between would leave the download unlocked without a
    # reboot, and any later reboot would apply it unplanned. So a hangup or a closed
    # pipe is ignored, and bootc's output goes to a file (printed afterwards), not to
    # the session. The unlock runs here, where an error is seen and stops us.
    trap '' HUP PIPE
    local out
    out=$(mktemp) || die "cannot create a temporary file"
    if ! bootc upgrade --from-downloaded >"$out" 2>&1; then
      cat "$out" >&2 || true
      rm -f "$out"
      die "bootc upgrade --from-downloaded failed (see the error above)"
    fi
    if ! run_detached "$APPLY_UNIT" bootc upgrade --from-downloaded --apply "${soft[@]}"; then
      rm -f "$out"
      die "could not start systemd unit $APPLY_UNIT; $staged is unlocked: the next reboot applies it"
    fi
    cat "$out" >&2 || true
    rm -f "$out"
    log "applying $staged: $kind reboot (unit $APPLY_UNIT: bootc upgrade --from-downloaded --apply${soft:+ ${soft[*]}})" || true
  else
    # Older bootc: a staged deployment is applied by any orderly reboot.
    log "applying $staged: rebooting (unit $APPLY_UNIT: systemctl reboot; bootc $v)"
    run_detached "$APPLY_UNIT" systemctl reboot ||
      die "could not start systemd unit $APPLY_UNIT; $staged stays staged for the next reboot"
  fi
  echo "rebooting into $staged (journalctl -u $APPLY_UNIT); afterwards: verify-instance.sh --expect-digest $staged"
}

main() {
  parse_args "$@"
  require_cmd jq
  require_cmd bootc "this is not a bootc host"
  require_root
  case $action in
    status) do_status ;;
    check) do_check ;;
    download) do_download ;;
    apply) do_apply ;;
  esac
}

main "$@"

#!/usr/bin/env bash
# The boot health gate: our checks as greenboot checks, so a host that boots a bad image
# goes back to the last good one by itself. greenboot runs it at every boot, before
# boot-complete.target, through the hooks the image installs (configs/greenboot-hook.sh in
# /usr/lib/greenboot/check/required.d, check/wanted.d and green.d).
#
# Usage: health-gate.sh required|wanted|green|set-rollback-trigger|status
#
#   required  wait up to HEALTH_GATE_TIMEOUT seconds for every "required" check of
#             verify-instance.sh --gate to pass (the one definition of a healthy host).
#             Exit 1 when one still fails: greenboot counts a failed boot and, after
#             GREENBOOT_MAX_BOOT_ATTEMPTS of them, runs `bootc rollback` and reboots.
#             Before checking, a boot that left a deployment which failed the gate on
#             its last boot (greenboot's rollback) records that digest as bad, with the
#             failed checks, where rollback-os.sh records it (upgrade-os.sh refuses it).
#             No loops: when the checks fail and the rollback deployment is recorded as
#             bad, rolling back would boot that image again, so the boot is not failed
#             (exit 0, result "held"); the host stays up and waits for an operator.
#             The same when one deployment failed more boots in a row than greenboot
#             allows (GREENBOOT_MAX_BOOT_ATTEMPTS + 1): the boot loader is not counting.
#   wanted    the "wanted" checks of the same run: warnings only (exit 1 lists them)
#   green     after greenboot passed the boot: record the booted digest as last known good
#   set-rollback-trigger
#             at shutdown (greenboot-set-rollback-trigger.service, our drop-in): greenboot's
#             own step, only when the staged deployment will boot; a download-only one
#             is discarded by the reboot and must not become greenboot's trigger
#   status    print the configuration and the last result
#   -h, --help  this help
#
# Configuration: /etc/bootc-testboot/health-gate.conf (TESTBOOT_HEALTH_CONF), KEY=VALUE:
#   HEALTH_GATE=on|off          off: the checks pass without looking (default on)
#   HEALTH_GATE_TIMEOUT=SEC     how long a boot may take to become healthy (default 300)
# A value that is not valid is reported in the journal and the default used: a typo
# must not fail every boot. The number of failed boots before a rollback is greenboot's
# GREENBOOT_MAX_BOOT_ATTEMPTS in /etc/greenboot/greenboot.conf (default 3).
#
# Records (under $TESTBOOT_STATE_DIR, default /var/lib/bootc-testboot; `make os-status`
# shows them): bad-digests, last-known-good, health/last.json. One journal line per
# decision: journalctl -t bootc-testboot/health-gate.sh
#
# Exit status: 0 healthy (or held, or off), 1 unhealthy, 2 usage error.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

HERE=$(dirname "${BASH_SOURCE[0]}")
CONF=${TESTBOOT_HEALTH_CONF:-/etc/bootc-testboot/health-gate.conf}
# greenboot's settings (src/main.rs GREENBOOT_CONFIG_FILE; GREENBOOT_MAX_BOOT_ATTEMPTS, default 3).
GREENBOOT_CONF=${TESTBOOT_GREENBOOT_CONF:-/etc/greenboot/greenboot.conf}
# verify-instance.sh's limit for one query; the gate retries until its own timeout.
readonly QUERY_TIMEOUT=10 RETRY_SECONDS=3

# parse_args ARG...: exactly one step.
parse_args() {
  step=
  while (($#)); do
    case $1 in
      -h | --help) usage ;;
      required | wanted | green | set-rollback-trigger | status)
        [[ -z $step ]] || usage_error "one step at a time, got '$step' and '$1'"
        step=$1
        ;;
      *) bad_arg "$1" ;;
    esac
    shift
  done
  [[ -n $step ]] || usage_error "one of required, wanted, green, set-rollback-trigger, status is needed"
}


gate=on timeout_s=300 conf_problems=()
load_conf() {
  local line key value
  [[ -f $CONF ]] || return 0
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%%#*}
    [[ -n ${line//[[:space:]]/} ]] || continue
    key=${line%%=*} value=${line#*=}
    key=${key//[[:space:]]/} value=${value//[[:space:]\"\']/}
    case $key in
      HEALTH_GATE)
        case $value in
          on | off) gate=$value ;;
          *) conf_problems+=("HEALTH_GATE must be on or off, not '$value'") ;;
        esac
        ;;
      HEALTH_GATE_TIMEOUT)
        if is_uint "$value" && ((value > 0 && value <= 3600)); then
          timeout_s=$value
        else
          conf_problems+=("HEALTH_GATE_TIMEOUT must be 1..3600 seconds, not '$value'")
        fi
        ;;
      *) conf_problems+=("unknown setting '$key'") ;;
    esac
  done <"$CONF"
}
boot_id=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
last_file=$(health_last_file)

# write_last RESULT DIGEST VERSION FAILED_JSON VERIFY_JSON [FAILS]: FAILS counts the
# failed boots of DIGEST in a row.
write_last() {
  mkdir -p "$(dirname "$last_file")" || die "cannot create $(dirname "$last_file")"
  if ! { jq -n --arg boot "$boot_id" --arg r "$1" --arg d "$2" --arg v "$3" --argjson f "$4" --argjson verify "$5" \
    --argjson fails "${6:-0}" --arg at "$(utc_now)" \
    '{boot_id: $boot, result: $r, digest: $d, version: $v, at: $at, failed: $f, fails: $fails, verify: $verify}' \
    >"$last_file.tmp" && mv "$last_file.tmp" "$last_file"; }; then
    die "cannot write $last_file"
  fi
}

# this_boot_last: the last result when it is from this boot, else nothing.
this_boot_last() {
  local last
  last=$(cat "$last_file" 2>/dev/null) || return 0
  jq -e --arg b "$boot_id" '.boot_id == $b' >/dev/null 2>&1 <<<"$last" && printf '%s' "$last"
  return 0
}

run_verify() { # -> JSON on stdout; exit status of verify-instance.sh --gate
  "$HERE/verify-instance.sh" --gate --json --timeout "$QUERY_TIMEOUT"
}

do_required() {
  local p s="" booted="" version="" rollback="" last out rc start attempts=0 failed why
  for p in "${conf_problems[@]}"; do journal err "$CONF: $p; using the default"; done
  if [[ $gate == off ]]; then
    journal notice "health gate is off ($CONF: HEALTH_GATE=off): this boot is not checked"
    write_last off "" "" '[]' null
    echo "health gate is off ($CONF)"
    return 0
  fi
  # A bootc status that fails here is the required check bootc-booted failing below.
  if s=$(bootc status --format=json --format-version=1 2>/dev/null) && jq -e .status >/dev/null 2>&1 <<<"$s"; then
    booted=$(jq -r '.status.booted.image.imageDigest // empty' <<<"$s")
    version=$(jq -r '.status.booted.image.version // empty' <<<"$s")
    rollback=$(jq -r '.status.rollback.image.imageDigest // empty' <<<"$s")
  fi

  # greenboot rolled back: the last result is a failure of another deployment from an
  # earlier boot, and that deployment is now the rollback one. The failure was recorded
  # before the rollback, so the record names the checks.
  last=$(cat "$last_file" 2>/dev/null || true)
  if [[ -n $booted ]] && jq -e --arg b "$boot_id" --arg d "$booted" --arg r "$rollback" \
    '.result == "fail" and .boot_id != $b and .digest != $d and .digest == $r' >/dev/null 2>&1 <<<"$last"; then
    local from from_version checks
    from=$(jq -r .digest <<<"$last") from_version=$(jq -r '.version // ""' <<<"$last")
    checks=$(jq -r '.failed | join(" ")' <<<"$last")
    if is_digest "$from"; then
      record_bad_digest "$from" "$from_version" "automatic rollback: failed the health gate: $checks"
      journal err "automatic rollback: $from failed the health gate ($checks) and greenboot rolled back to $booted; $from is recorded as bad"
    fi
  fi

  # Until the timeout: a slow start passes late; an app that cannot start fails at the end.
  start=$SECONDS
  local left
  while :; do
    attempts=$((attempts + 1))
    rc=0
    out=$(run_verify) || rc=$?
    left=$((timeout_s - (SECONDS - start)))
    ((rc == 1 && left > 0)) || break
    sleep "$((left < RETRY_SECONDS ? left : RETRY_SECONDS))"
  done
  if ((rc == 0)); then
    write_last pass "$booted" "$version" '[]' "$out"
    journal info "health gate passed on ${booted:-unknown} after $((SECONDS - start))s ($attempts attempts)"
    echo "healthy: ${booted:-unknown}"
    return 0
  fi
  if ((rc == 1)) && jq -e .checks >/dev/null 2>&1 <<<"$out"; then
    failed=$(jq -c '[.checks[] | select(.gate == "required" and .status == "FAIL") | .name]' <<<"$out")
    jq -r '.checks[] | select(.gate == "required" and .status == "FAIL") | "FAIL  \(.name)  \(.detail)"' <<<"$out"
  else
    failed='["verify-instance"]' out=null
    echo "verify-instance.sh --gate failed with exit $rc"
  fi
  why=$(jq -r 'join(" ")' <<<"$failed")
  # Failed boots of this deployment in a row (a held boot failed too).
  local fails max
  fails=$(jq -r --arg d "$booted" 'if (.result == "fail" or .result == "held") and .digest == $d then (.fails // 1) + 1 else 1 end' \
    <<<"${last:-null}" 2>/dev/null) || fails=1
  if [[ -n $rollback && -n $(bad_digest_note "$rollback") ]]; then
    write_last held "$booted" "$version" "$failed" "$out" "$fails"
    journal err "health gate failed on ${booted:-unknown} ($why) but the rollback deployment $rollback is recorded as bad: the boot is not failed, so greenboot neither reboots nor rolls back; the host waits for an operator"
    echo "unhealthy, held: the rollback deployment $rollback is recorded as bad; not failing the boot"
    return 0
  fi
  # greenboot only reboots while GRUB counts down (grub2/08_greenboot.cfg); a boot
  # loader without that script never counts, and greenboot would reboot forever.
  max=$(sed -n 's/^GREENBOOT_MAX_BOOT_ATTEMPTS=//p' "$GREENBOOT_CONF" 2>/dev/null | tail -n1) || max=""
  [[ $max =~ ^[0-9]+$ ]] || max=3
  if ((fails > max + 1)); then
    write_last held "$booted" "$version" "$failed" "$out" "$fails"
    journal err "health gate failed on ${booted:-unknown} ($why): $fails failed boots in a row, more than greenboot's $max attempts allow, so the boot loader does not count them (greenboot's GRUB script missing?); the boot is not failed, to end the reboots; the host waits for an operator"
    echo "unhealthy, held: $fails failed boots in a row; not failing the boot"
    return 0
  fi
  write_last fail "$booted" "$version" "$failed" "$out" "$fails"
  journal err "health gate failed on ${booted:-unknown} after $((SECONDS - start))s ($attempts attempts): $why; greenboot counts a failed boot"
  return "$EX_FAIL"
}

do_wanted() {
  local last out rc=0 warned
  [[ $gate == on ]] || return 0
  last=$(this_boot_last)
  if ! out=$(jq -ce '.verify | select(. != null)' 2>/dev/null <<<"$last"); then
    out=$(run_verify) || rc=$?
    ((rc <= 1)) || die "verify-instance.sh --gate failed with exit $rc"
  fi
  warned=$(jq -r '.checks[] | select(.gate == "wanted" and .status == "FAIL") | "FAIL  \(.name)  \(.detail)"' <<<"$out")
  [[ -n $warned ]] || return 0
  printf '%s\n' "$warned"
  journal warning "health gate warnings: $(jq -r '[.checks[] | select(.gate == "wanted" and .status == "FAIL") | .name] | join(" ")' <<<"$out")"
  return "$EX_FAIL"
}

do_green() {
  local last digest version f old
  last=$(this_boot_last)
  jq -e '.result == "pass"' >/dev/null 2>&1 <<<"$last" || return 0
  digest=$(jq -r .digest <<<"$last") version=$(jq -r '.version // ""' <<<"$last")
  is_digest "$digest" || return 0
  f=$(last_known_good_file)
  old=$(cut -f1 "$f" 2>/dev/null || true)
  [[ $old != "$digest" ]] || return 0
  if ! { printf '%s\t%s\t%s\n' "$digest" "$(utc_now)" "$version" >"$f.tmp" && mv "$f.tmp" "$f"; }; then
    die "cannot write $f"
  fi
  journal info "last known good: $digest (version ${version:-unknown}) passed the health gate${old:+; was $old}"
  echo "last known good: $digest"
}

# greenboot's binary (greenboot-rs.spec: %{_libexecdir}/greenboot/greenboot).
GREENBOOT=${TESTBOOT_GREENBOOT:-/usr/libexec/greenboot/greenboot}

do_set_rollback_trigger() {
  local s staged
  s=$(bootc_status)
  staged=$(jq -r '.status.staged.image.imageDigest // empty' <<<"$s")
  [[ -n $staged ]] || return 0
  if [[ $(jq -r '.status.staged.downloadOnly // false' <<<"$s") == true ]]; then
    journal info "no rollback trigger for $staged: it is download-only, and this reboot discards it"
    return 0
  fi
  exec "$GREENBOOT" set-rollback-trigger
}

do_status() {
  local p
  printf 'gate:      %s, timeout %ss (%s)\n' "$gate" "$timeout_s" "$CONF"
  for p in "${conf_problems[@]}"; do printf 'config:    %s (default used)\n' "$p"; done
  awk -F '\t' 'NR == 1 { printf "good:      %s (passed on %s)\n", $1, $2 }' "$(last_known_good_file)" 2>/dev/null || true
  jq -r '"last:      \(.result) on \(.digest) at \(.at)" + (if (.failed | length) > 0 then " (failed: \(.failed | join(" ")))" else "" end)' \
    "$last_file" 2>/dev/null || printf 'last:      none\n'
}

main() {
  parse_args "$@"
  require_cmd jq
  load_conf
  case $step in
    required) do_required ;;
    wanted) do_wanted ;;
    green) do_green ;;
    set-rollback-trigger) do_set_rollback_trigger ;;
    status) do_status ;;
  esac
}

main "$@"

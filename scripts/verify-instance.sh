#!/usr/bin/env bash
# Post-boot health checks of a bootc-testboot instance. Read-only: it only
# queries bootc, systemd, the filesystem and the HTTP endpoints behind nginx
# (HEAD for /, which would count a visit), and logs its verdict to the journal.
# Run as root on a bootc host: `bootc status` needs it.
#
# Usage: verify-instance.sh [OPTIONS]
#
# Each check prints one line:  PASS|FAIL|SKIP  <name>  <detail>
# Exit status: 0 every check passed (SKIPs allowed), 1 a check failed, 2 usage error.
#
# Options:
#   --expect-digest SHA256  the booted image digest must be this (sha256:<64 hex>)
#   --expect-version VER    the booted image version (and /api/info version) must be this
#   --url URL               nginx base URL (default http://127.0.0.1)
#   --min-free-mb N         minimum free space on / and /var in MiB (default 500)
#   --min-free-percent N    minimum free space on / and /var in percent (default 5)
#                           (on a bootc host "/" means /sysroot, the physical root that
#                           holds the deployments and the image store updates fill)
#   --timeout SEC           limit for each query: bootc, systemctl, one HTTP request (default 10)
#   --wait-boot SEC         first wait up to SEC seconds for systemd to finish starting up
#   --unit-dir DIR          where the image's units live (default /usr/lib/systemd/system,
#                           or $TESTBOOT_UNIT_DIR); apps are the units with X-Testboot-HealthPath=
#   --layout-checks         check /usr read-only and /var writable even on a host that is not
#                           booted by ostree (a simulated bootc layout, e.g. the boot rig)
#   --json                  print one JSON document (checks, summary, facts) instead of lines
#   --gate                  the boot health gate's view (scripts/health-gate.sh): each check is
#                           "required" or "wanted" (in --json, field "gate"), only a failed
#                           required check fails (exit 1), system-state is not checked (the gate
#                           runs during start-up) and nothing is written to the journal
#   -h, --help              this help
#
# On a host that is not a bootc host (no bootc, no /run/ostree-booted, or no booted
# deployment) the bootc checks report SKIP with the reason, never PASS.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

expect_digest="" expect_version="" url="http://127.0.0.1"
min_free_mb=500 min_free_percent=5 timeout_s=10 wait_boot=0
unit_dir=${TESTBOOT_UNIT_DIR:-/usr/lib/systemd/system}
layout_checks=false json=false gate=false
# The ostree boot marker; tests point it elsewhere.
ostree_booted=${TESTBOOT_OSTREE_BOOTED:-/run/ostree-booted}

# parse_args ARG...: the options, all checked before the first query.
parse_args() {
  while (($#)); do
    case $1 in
      -h | --help) usage ;;
      --expect-digest) need_value "$@"; expect_digest=$2; shift ;;
      --expect-version) need_value "$@"; expect_version=$2; shift ;;
      --url) need_value "$@"; url=${2%/}; shift ;;
      --min-free-mb) need_value "$@"; min_free_mb=$2; shift ;;
      --min-free-percent) need_value "$@"; min_free_percent=$2; shift ;;
      --timeout) need_value "$@"; timeout_s=$2; shift ;;
      --wait-boot) need_value "$@"; wait_boot=$2; shift ;;
      --unit-dir) need_value "$@"; unit_dir=$2; shift ;;
      --layout-checks) layout_checks=true ;;
      --json) json=true ;;
      --gate) gate=true ;;
      *) bad_arg "$1" ;;
    esac
    shift
  done

  [[ -z $expect_digest ]] || is_digest "$expect_digest" ||
    usage_error "--expect-digest must be sha256:<64 hex digits>, got '$expect_digest'"
  [[ $url =~ ^https?://[^[:space:]]+$ ]] || usage_error "--url must be an http:// or https:// URL, got '$url'"
  is_uint "$min_free_mb" || usage_error "--min-free-mb must be a whole number of MiB, got '$min_free_mb'"
  { is_uint "$min_free_percent" && ((min_free_percent <= 100)); } ||
    usage_error "--min-free-percent must be 0..100, got '$min_free_percent'"
  { is_uint "$timeout_s" && ((timeout_s > 0)); } || usage_error "--timeout must be a positive number of seconds, got '$timeout_s'"
  is_uint "$wait_boot" || usage_error "--wait-boot must be a whole number of seconds, got '$wait_boot'"
  [[ -d $unit_dir ]] || usage_error "--unit-dir '$unit_dir' is not a directory"
}


# --- Results ----------------------------------------------------------------
# Each check appends one JSON object; the summary and the exit code derive from them.
checks=()
n_pass=0 n_fail=0 n_skip=0 n_fail_required=0

# gate_of NAME: what a failure of the check means to the boot health gate, the one
# definition of a healthy boot (scripts/health-gate.sh runs this script). "required":
# the boot failed, and greenboot rolls back after GREENBOOT_MAX_BOOT_ATTEMPTS such boots.
# "wanted": a warning, because booting the previous image cannot fix it: free space and
# /var are shared by both deployments, a host's policy.json edit is kept by the /etc
# merge, a digest other than the recorded one or a failed ostree-boot-complete means the
# new image never booted (this is the old one), and system-state includes units that
# are not ours.
gate_of() {
  case $1 in
    bootc-digest | bootc-version | bootc-sigpolicy | unit:ostree-boot-complete.service | system-state | free-space:*) printf wanted ;;
    *) printf required ;;
  esac
}

record() { # STATUS NAME DETAIL
  local status=$1 name=$2 detail=$3 g
  g=$(gate_of "$name")
  case $status in
    PASS) n_pass=$((n_pass + 1)) ;;
    FAIL) n_fail=$((n_fail + 1)); [[ $g != required ]] || n_fail_required=$((n_fail_required + 1)) ;;
    SKIP) n_skip=$((n_skip + 1)) ;;
  esac
  checks+=("$(jq -cn --arg s "$status" --arg n "$name" --arg d "$detail" --arg g "$g" '{name: $n, status: $s, detail: $d, gate: $g}')")
  $json || printf '%s  %s  %s\n' "$status" "$name" "$detail"
}

# q CMD...: run a query with the time limit; a hung bootc (sysroot lock) or
# systemd bus must not hang the verification.
q() { timeout --kill-after=2 "$timeout_s" "$@"; }

# --- Facts --------------------------------------------------------------------
bootc_host=false bootc_reason="" booted_image="" booted_digest="" booted_version="" status_doc=""
system_state="" failed_units=() apps_json="[]" api_info="null"

# --- bootc ----------------------------------------------------------------------
check_bootc() {
  local status_json="" status_err="" tmp
  # Only stdout is JSON: with RUST_LOG set, bootc's tracing goes to stderr.
  tmp=$(mktemp -d) || die "cannot create a temporary directory"
  if ! command -v bootc >/dev/null 2>&1; then
    bootc_reason="bootc is not installed: not a bootc host"
  elif [[ ! -e $ostree_booted ]]; then
    bootc_reason="$ostree_booted is absent: not booted by ostree"
  elif ! run_split "$tmp/out" "$tmp/err" q bootc status --format=json --format-version=1; then
    status_err=$(<"$tmp/err")
    rm -rf "$tmp"
    record FAIL bootc-booted "bootc status failed: $(first_line "$status_err")"
    skip_bootc_rest "bootc status failed"
    return
  elif status_json=$(<"$tmp/out") && ! jq -e 'type == "object" and (.status | type == "object")' >/dev/null 2>&1 <<<"$status_json"; then
    rm -rf "$tmp"
    record FAIL bootc-booted "bootc status printed malformed JSON (no .status object): $(head -c 80 <<<"$status_json" | head -n1)"
    skip_bootc_rest "bootc status is malformed"
    return
  elif jq -e '.status.booted == null' >/dev/null <<<"$status_json"; then
    bootc_reason="bootc reports no booted deployment (status.booted is null): not a bootc host"
  fi
  rm -rf "$tmp"
  if [[ -n $bootc_reason ]]; then
    record SKIP bootc-booted "$bootc_reason"
    skip_bootc_rest "$bootc_reason"
    return
  fi

  bootc_host=true
  status_doc=$status_json
  booted_image=$(jq -r '.status.booted.image.image.image // empty' <<<"$status_json")
  booted_digest=$(jq -r '.status.booted.image.imageDigest // empty' <<<"$status_json")
  booted_version=$(jq -r '.status.booted.image.version // empty' <<<"$status_json")
  if [[ -z $booted_digest ]]; then
    record FAIL bootc-booted "booted deployment has no container image digest (status.booted.image is null)"
  else
    record PASS bootc-booted "booted ${booted_image:-?} ${booted_digest} version ${booted_version:-none}"
  fi

  if [[ -z $expect_digest ]]; then
    record SKIP bootc-digest "no --expect-digest given"
  elif [[ $booted_digest == "$expect_digest" ]]; then
    record PASS bootc-digest "booted digest is $expect_digest"
  else
    record FAIL bootc-digest "booted digest ${booted_digest:-none} is not the expected $expect_digest"
  fi

  if [[ -z $expect_version ]]; then
    record SKIP bootc-version "no --expect-version given"
  elif [[ $booted_version == "$expect_version" ]]; then
    record PASS bootc-version "booted version is $expect_version"
  else
    record FAIL bootc-version "booted version '${booted_version:-none}' is not the expected '$expect_version'"
  fi

  # A staged update that failed to finalize fails during the previous boot's shutdown,
  # where no check of this boot can see it; ostree leaves a stamp in /boot and
  # ostree-boot-complete.service fails early in the next boot (bootc-dev/bootc
  # docs/src/boot-failure-detection.md). That unit is the check; the reason is in the
  # previous boot's journal.
  local state
  state=$(q systemctl is-failed ostree-boot-complete.service 2>/dev/null) || true
  if [[ $state == failed ]]; then
    record FAIL unit:ostree-boot-complete.service \
      "ostree-boot-complete.service failed: the last staged update was not finalized (journalctl -b -1 -u ostree-finalize-staged.service)"
  else
    record PASS unit:ostree-boot-complete.service "not failed (${state:-unknown})"
  fi
}

# --- Signature enforcement -------------------------------------------------------
# The image names the repository whose images need our signature in
# /usr/share/bootc-testboot/signing.json (configs/signing-policy.sh, at build).
# bootc applies policy.json to every pull; an enforcing origin (spec.image.signature
# "containerPolicy") also refuses a policy that accepts anything by default
# (crates/ostree-ext/src/container/store.rs `prepare_internal`; crates/lib/src/spec.rs
# ImageSignature; spec
# follows the staged deployment, else the booted one: crates/lib/src/status.rs
# get_status). The policy itself must still require the signature: /etc is merged,
# so a host's own edit of policy.json survives upgrades. TESTBOOT_ROOT prefixes
# both files (tests).
check_sigpolicy() {
  local info=${TESTBOOT_ROOT:-}/usr/share/bootc-testboot/signing.json
  local policy=${TESTBOOT_ROOT:-}/etc/containers/policy.json
  local repo keys ref transport sig name
  if ! $bootc_host; then
    record SKIP bootc-sigpolicy "${bootc_reason:-bootc status failed}"
    return
  fi
  if [[ ! -f $info ]]; then
    record SKIP bootc-sigpolicy "the booted image declares no signature policy ($info is absent)"
    return
  fi
  repo=$(jq -r '.repository // empty' "$info" 2>/dev/null) || repo=""
  keys=$(jq -r '.keys // [] | join(" ")' "$info" 2>/dev/null) || keys=""
  if [[ -z $repo ]]; then
    record FAIL bootc-sigpolicy "$info names no repository"
    return
  fi
  ref=$(jq -r '.spec.image.image // empty' <<<"$status_doc" 2>/dev/null) || ref=""
  transport=$(jq -r '.spec.image.transport // empty' <<<"$status_doc" 2>/dev/null) || transport=""
  # "containerPolicy", {"ostreeRemote": NAME}, or absent (no verification).
  sig=$(jq -r '.spec.image.signature // "none" | if type == "string" then . else (keys | first) end' <<<"$status_doc" 2>/dev/null) || sig=unknown
  name=${ref%%@*}
  [[ ${name##*/} == *:* ]] && name=${name%:*}
  if [[ $transport != registry || $name != "$repo" ]]; then
    record SKIP bootc-sigpolicy "this host follows ${transport:-?}:${ref:-none}, not $repo, the repository the image requires signatures for"
  elif [[ $sig != containerPolicy ]]; then
    record FAIL bootc-sigpolicy "bootc does not enforce the signature policy for $ref (spec.image.signature: $sig): a policy.json edited to accept anything would be used as is; bootc-testboot-sigpolicy.service switches it (journalctl -u bootc-testboot-sigpolicy.service)"
  elif ! jq -e --arg r "$repo" '(.default | length > 0 and all(.type != "insecureAcceptAnything"))
        and ([.transports.docker[$r][]?.type] == ["sigstoreSigned"])' "$policy" >/dev/null 2>&1; then
    record FAIL bootc-sigpolicy "$policy does not require a sigstore signature for $repo (or its default accepts anything): edited on this host? (compare with /usr/etc/containers/policy.json)"
  else
    record PASS bootc-sigpolicy "bootc requires a signature by ${keys:-?} for $ref"
  fi
}

skip_bootc_rest() {
  local c
  for c in bootc-digest bootc-version unit:ostree-boot-complete.service; do
    record SKIP "$c" "$1"
  done
}

# --- systemd --------------------------------------------------------------------
check_system_state() {
  if $gate; then
    # The gate runs inside start-up (greenboot-healthcheck.service is ordered before
    # boot-complete.target), where the state is "starting" until the gate itself ends.
    record SKIP system-state "not checked by the boot gate: it runs before start-up has finished"
    return
  fi
  if ((wait_boot > 0)); then
    # --wait returns once start-up finished (running or degraded).
    timeout "$wait_boot" systemctl is-system-running --wait >/dev/null 2>&1 || true
  fi
  system_state=$(q systemctl is-system-running 2>/dev/null) || true
  system_state=${system_state:-unknown}
  mapfile -t failed_units < <(q systemctl list-units --failed --plain --no-legend 2>/dev/null | awk 'NF {print $1}' || true)
  if [[ $system_state == running && ${#failed_units[@]} -eq 0 ]]; then
    record PASS system-state "running, no failed units"
  elif ((${#failed_units[@]})); then
    record FAIL system-state "$system_state; failed units: ${failed_units[*]}"
  else
    record FAIL system-state "$system_state (expected running)"
  fi
}

unit_active() { # UNIT -> prints its state, succeeds when active
  local state
  state=$(q systemctl is-active "$1" 2>/dev/null) || true
  printf '%s' "${state:-unknown}"
  [[ $state == active ]]
}

check_unit() { # UNIT
  local state more sub result
  if state=$(unit_active "$1"); then
    record PASS "unit:$1" "active"
  else
    # e.g. "activating/auto-restart, result exit-code": a unit crash-looping under Restart=.
    # Key=value lines: systemctl prints properties in its own order, not the asked one.
    more=$(q systemctl show --property=SubState --property=Result "$1" 2>/dev/null) || true
    sub=$(sed -n 's/^SubState=//p' <<<"$more")
    result=$(sed -n 's/^Result=//p' <<<"$more")
    record FAIL "unit:$1" "$state${sub:+/$sub}${result:+, result $result} (journalctl -u $1)"
  fi
}

# Debian names the unit ssh.service (sshd.service is an alias), Fedora sshd.service.
check_sshd() {
  local unit state states=()
  for unit in sshd.service ssh.service; do
    if state=$(unit_active "$unit"); then
      record PASS unit:sshd "$unit active"
      return
    fi
    states+=("$unit: $state")
  done
  record FAIL unit:sshd "no active ssh daemon (${states[*]})"
}

# The image's apps: every unit that declares the health path it serves through nginx.
discover_apps() {
  local f path
  local -a objs=()
  for f in "$unit_dir"/*.service; do
    [[ -f $f ]] || continue
    path=$(sed -n 's/^X-Testboot-HealthPath=[[:space:]]*//p' "$f" | tail -n1)
    [[ -n $path ]] || continue
    objs+=("$(jq -cn --arg u "$(basename "$f")" --arg p "$path" '{unit: $u, health_path: $p}')")
  done
  if ((${#objs[@]})); then
    apps_json=$(printf '%s\n' "${objs[@]}" | jq -cs .)
  fi
}

# --- HTTP ---------------------------------------------------------------------
# fetch PATH [METHOD]: body on stdout; on failure a one-line reason on stdout.
# HEAD asks without side effects (GET / counts a visit in hello).
fetch() {
  local out code rc=0 head=()
  [[ ${2:-GET} == HEAD ]] && head=(--head)
  out=$(curl -s "${head[@]}" --max-time "$timeout_s" --connect-timeout "$timeout_s" \
    -w '\n%{http_code}' "$url$1") || rc=$?
  if ((rc != 0)); then
    case $rc in
      6) printf 'cannot resolve host' ;;
      7) printf 'connection failed (nginx not listening?)' ;;
      28) printf 'timed out after %ss' "$timeout_s" ;;
      52) printf 'empty reply' ;;
      *) printf 'curl failed with exit %s' "$rc" ;;
    esac
    return 1
  fi
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [[ $code != 2?? ]]; then
    printf 'HTTP %s' "$code"
    return 1
  fi
  printf '%s' "$out"
}

check_http() { # NAME PATH [METHOD]
  local body method=${3:-GET}
  if body=$(fetch "$2" "$method"); then
    record PASS "$1" "$method $url$2 -> 2xx"
  else
    record FAIL "$1" "$method $url$2: $body"
  fi
}

# /api/info is the build-info of the running image, served by the api app.
check_api_info() {
  local body missing version
  if ! body=$(fetch /api/info); then
    record FAIL http:/api/info "GET $url/api/info: $body"
    return
  fi
  if ! jq -e 'type == "object"' >/dev/null 2>&1 <<<"$body"; then
    record FAIL http:/api/info "GET $url/api/info: not a JSON object: $(head -c 80 <<<"$body" | head -n1)"
    return
  fi
  api_info=$(jq -c . <<<"$body")
  missing=$(jq -r '[("version", "revision", "created") as $k | select((.[$k] | type) != "string" or .[$k] == "") | $k] | join(" ")' <<<"$body")
  if [[ -n $missing ]]; then
    record FAIL http:/api/info "missing or empty fields: $missing"
    return
  fi
  version=$(jq -r .version <<<"$body")
  if [[ -n $expect_version && $version != "$expect_version" ]]; then
    record FAIL http:/api/info "reports version '$version', expected '$expect_version'"
    return
  fi
  record PASS http:/api/info "version $version"
}

# --- Filesystem -------------------------------------------------------------------
check_layout() {
  local reason="" opts
  if ! $bootc_host && ! $layout_checks; then
    reason="not a bootc host (${bootc_reason:-bootc status failed}); --layout-checks forces these checks"
    record SKIP usr-read-only "$reason"
    record SKIP var-writable "$reason"
    return
  fi
  opts=$(findmnt -n -o OPTIONS --target /usr 2>/dev/null) || true
  if [[ ,$opts, == *,ro,* ]] && [[ ! -w /usr ]]; then
    record PASS usr-read-only "/usr is mounted read-only"
  else
    record FAIL usr-read-only "/usr is writable (mount options: ${opts:-unknown})"
  fi
  opts=$(findmnt -n -o OPTIONS --target /var 2>/dev/null) || true
  if [[ ,$opts, == *,rw,* ]] && [[ -w /var ]]; then
    record PASS var-writable "/var is writable"
  else
    record FAIL var-writable "/var is not writable (mount options: ${opts:-unknown})"
  fi
}

check_free_space() { # MOUNTPOINT
  local line size avail pct_free mb_free
  if ! line=$(df -P -k "$1" 2>/dev/null | awk 'NR == 2 {print $2, $4}') || [[ -z $line ]]; then
    record FAIL "free-space:$1" "df failed for $1"
    return
  fi
  read -r size avail <<<"$line"
  mb_free=$((avail / 1024))
  pct_free=$((size > 0 ? avail * 100 / size : 0))
  if ((mb_free >= min_free_mb && pct_free >= min_free_percent)); then
    record PASS "free-space:$1" "${mb_free} MiB (${pct_free}%) free"
  else
    record FAIL "free-space:$1" "${mb_free} MiB (${pct_free}%) free, below ${min_free_mb} MiB / ${min_free_percent}%"
  fi
}

# --- Run -------------------------------------------------------------------------
# run_checks: every check, in the order the lines are printed.
run_checks() {
  check_bootc
  check_sigpolicy
  check_system_state
  discover_apps
  if [[ $apps_json == "[]" ]]; then
    record FAIL apps "no unit in $unit_dir declares X-Testboot-HealthPath=: the image ships no app"
  fi
  while IFS=$'\t' read -r app_unit app_path; do
    [[ -n $app_unit ]] || continue
    check_unit "$app_unit"
    check_http "health:$app_unit" "$app_path"
  done < <(jq -r '.[] | [.unit, .health_path] | @tsv' <<<"$apps_json")
  check_unit nginx.service
  check_sshd
  check_http http:/ / HEAD
  check_api_info
  check_layout
  # With composefs, / is a read-only overlay whose free space says nothing; updates
  # land in /sysroot.
  if findmnt -n /sysroot >/dev/null 2>&1; then check_free_space /sysroot; else check_free_space /; fi
  check_free_space /var
}

# report: the summary (or the JSON document) and the journal entry; exits 1 when a
# check failed.
report() {
  summary="$n_pass passed, $n_fail failed, $n_skip skipped"
  $gate && summary="$summary; $n_fail_required required failed"
  if $json; then
    printf '%s\n' "${checks[@]}" | jq -s \
      --argjson pass "$n_pass" --argjson fail "$n_fail" --argjson skip "$n_skip" \
      --argjson gate "$gate" --argjson fail_required "$n_fail_required" \
      --argjson bootc_host "$bootc_host" --arg bootc_reason "$bootc_reason" \
      --arg image "$booted_image" --arg digest "$booted_digest" --arg version "$booted_version" \
      --arg expect_digest "$expect_digest" --arg expect_version "$expect_version" \
      --arg state "$system_state" --argjson apps "$apps_json" --argjson api_info "$api_info" \
      --arg url "$url" --arg unit_dir "$unit_dir" --argjson layout_checks "$layout_checks" \
      --argjson min_mb "$min_free_mb" --argjson min_pct "$min_free_percent" \
      --arg failed "$(printf '%s\n' "${failed_units[@]}")" \
      '{
        ok: (if $gate then $fail_required == 0 else $fail == 0 end),
        checks: .,
        summary: {passed: $pass, failed: $fail, skipped: $skip, required_failed: $fail_required},
        facts: {
          bootc_host: $bootc_host,
          bootc_skip_reason: (if $bootc_reason == "" then null else $bootc_reason end),
          booted: (if $bootc_host then {image: $image, digest: $digest, version: $version} else null end),
          expect: {digest: (if $expect_digest == "" then null else $expect_digest end),
                   version: (if $expect_version == "" then null else $expect_version end)},
          system_state: $state,
          failed_units: ($failed | split("\n") | map(select(. != ""))),
          apps: $apps,
          api_info: $api_info,
          url: $url,
          unit_dir: $unit_dir,
          layout_checks: $layout_checks,
          min_free: {mib: $min_mb, percent: $min_pct}
        }
      }'
  else
    printf 'summary: %s\n' "$summary"
  fi

  if $gate; then
    # The gate logs its own decision (one line per boot, not one per attempt).
    ((n_fail_required == 0)) || exit "$EX_FAIL"
    exit "$EX_OK"
  fi
  if ((n_fail > 0)); then
    journal warning "verification failed: $summary"
    exit "$EX_FAIL"
  fi
  journal info "verification passed: $summary"
  exit "$EX_OK"
}

main() {
  parse_args "$@"
  require_cmd jq "apt-get install jq / dnf install jq"
  require_cmd curl
  require_cmd systemctl "verify-instance.sh checks a systemd host"
  run_checks
  report
}

main "$@"

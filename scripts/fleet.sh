#!/usr/bin/env bash
# Fleet rollouts through AWS Systems Manager Run Command: the instances run the SSM
# document ssm/bootc-testboot-os.yaml, which calls the scripts installed in the image
# (bootc-testboot-upgrade, -rollback, -verify: the code `make os-*` sends over SSH).
# Runs on a workstation or in CI with the AWS CLI v2 and jq; no SSH, no open port.
#
# Usage: fleet.sh upgrade  (--tag KEY=VALUE | --asg NAME) [OPTIONS]
#        fleet.sh status   (--tag KEY=VALUE | --asg NAME) [--json]
#        fleet.sh document
#
# Actions:
#   upgrade    roll the image digest out to the selected instances: download it on every
#              one at once (no reboot), apply it to a canary and wait until it is back and
#              verified, then continue in waves, each gated on every host verifying
#   status     per instance: SSM ping, booted digest and version, staged image, last verify
#   document   create the SSM document in the account, or update it and make the new
#              version the default (make ssm-document)
#
# Selecting instances (one of):
#   --tag KEY=VALUE    running EC2 instances with this tag
#   --asg NAME         the InService instances of this Auto Scaling group
# Only instances whose SSM agent is Online are used; the others are reported.
#
# Options of upgrade:
#   --digest SHA256      the image to roll out (sha256:<64 hex>); default: the digest
#                        `make push` wrote to $OUTPUT/digest. Each host downloads what its
#                        tracked tag serves; a host that stages another digest fails
#   --waves LIST         wave sizes, comma-separated: N hosts, P% of the hosts, or rest
#                        (last only); default 1,10%,50%,rest. The first wave is the canary
#   --max-errors N       failed hosts a wave may have and the rollout go on (default 0;
#                        the canary wave allows none). Failed hosts are rolled back
#   --timeout SEC        how long a wave's hosts have to reboot and verify, and one SSM
#                        command to finish (default 1200)
#   --download-concurrency N|P%
#                        hosts downloading at once (SSM MaxConcurrency, default 25%)
#   --allow-downgrade    accept an image built before the booted one
#   --dry-run            print the plan (hosts per wave) and stop: no command is sent
#   --restart            start over after a halted rollout of the same digest and hosts
#   --yes                no confirmation (without a terminal and without --yes it refuses)
#   --poll-seconds SEC   pause between two status polls (default 10)
# Common options:
#   --document NAME      the SSM document (default bootc-testboot-os)
#   --region REGION      AWS region (default $AWS_REGION, else us-east-1)
#   --json               status: print JSON instead of a table
#   -h, --help           this help
#
# State and report: $OUTPUT/fleet/rollout-<id>.json (OUTPUT defaults to output), one per
# digest and selection: the plan, each host's state, each wave's outcome. An interrupted
# rollout resumes from it when run again; hosts already on the digest are skipped.
#
# Exit status: 0 done (hosts a wave tolerated as failed are listed), 1 failure or a
# halted rollout (the failed wave was rolled back), 2 usage error.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib/common.sh"

ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
DOC_FILE=$ROOT/ssm/bootc-testboot-os.yaml
# SendCommand takes at most 50 instance IDs (API reference, SendCommand InstanceIds).
readonly BATCH=50

action="" tag="" asg="" digest="" waves="1,10%,50%,rest" max_errors=0 timeout_s=1200
download_conc=25% allow_downgrade=false dry_run=false restart=false json=false poll=10
document=bootc-testboot-os region=${AWS_REGION:-us-east-1} wait_boot=120
ASSUME_YES=0

# upgrade_only FLAG: FLAG was given to an action other than upgrade.
upgrade_only() { [[ $action == upgrade ]] || usage_error "$1 is for upgrade only"; }

# parse_args ARG...: the action and its options, all checked before the first AWS call.
parse_args() {
  local i w
  while (($#)); do
    case $1 in
      -h | --help) usage ;;
      --tag) need_value "$@"; tag=$2; shift ;;
      --asg) need_value "$@"; asg=$2; shift ;;
      --digest) need_value "$@"; digest=$2; shift ;;
      --waves) need_value "$@"; waves=$2; shift ;;
      --max-errors) need_value "$@"; max_errors=$2; shift ;;
      --timeout) need_value "$@"; timeout_s=$2; shift ;;
      --download-concurrency) need_value "$@"; download_conc=$2; shift ;;
      --poll-seconds) need_value "$@"; poll=$2; shift ;;
      --document) need_value "$@"; document=$2; shift ;;
      --region) need_value "$@"; region=$2; shift ;;
      --allow-downgrade) allow_downgrade=true ;;
      --dry-run) dry_run=true ;;
      --restart) restart=true ;;
      --json) json=true ;;
      --yes) ASSUME_YES=1 ;;
      -*) bad_arg "$1" ;;
      *)
        [[ -z $action ]] || usage_error "unexpected argument '$1' (one action at a time)"
        case $1 in
          upgrade | status | document) action=$1 ;;
          *) usage_error "unknown action '$1' (upgrade, status or document)" ;;
        esac
        ;;
    esac
    shift
  done

  # --- Input: everything is checked before the first AWS call -----------------------------
  [[ -n $action ]] || usage_error "no action given (upgrade, status or document)"
  [[ $waves == "1,10%,50%,rest" ]] || upgrade_only --waves
  [[ $max_errors == 0 ]] || upgrade_only --max-errors
  [[ $download_conc == 25% ]] || upgrade_only --download-concurrency
  [[ -z $digest ]] || upgrade_only --digest
  ! $allow_downgrade || upgrade_only --allow-downgrade
  ! $dry_run || upgrade_only --dry-run
  ! $restart || upgrade_only --restart
  [[ $ASSUME_YES == 0 ]] || upgrade_only --yes
  ! $json || [[ $action == status ]] || usage_error "--json is for status only"
  [[ $document =~ ^[A-Za-z0-9_.-]{3,128}$ ]] || usage_error "--document '$document' is not an SSM document name (3-128 of letters, digits, _ . -)"
  is_aws_region "$region" || usage_error "--region '$region' is not an AWS region (e.g. us-east-1)"
  [[ $timeout_s =~ ^[1-9][0-9]{0,5}$ ]] || usage_error "--timeout must be a positive number of seconds, got '$timeout_s'"
  [[ $poll =~ ^[0-9]{1,4}$ ]] || usage_error "--poll-seconds must be a whole number of seconds, got '$poll'"
  [[ $max_errors =~ ^[0-9]{1,6}$ ]] || usage_error "--max-errors must be a whole number, got '$max_errors'"
  [[ $download_conc =~ ^([1-9][0-9]{0,5}|([1-9][0-9]?|100)%)$ ]] ||
    usage_error "--download-concurrency must be a number of hosts or 1%..100%, got '$download_conc'"

  if [[ $action != document ]]; then
    [[ -n $tag || -n $asg ]] || usage_error "no instances selected: give --tag KEY=VALUE or --asg NAME"
    [[ -z $tag || -z $asg ]] || usage_error "give --tag or --asg, not both"
    if [[ -n $tag ]]; then
      # EC2 tag keys: 1-128 characters, values up to 256; no control characters.
      [[ $tag =~ ^([^=[:cntrl:]]{1,128})=([^[:cntrl:]]{0,256})$ ]] ||
        usage_error "--tag '$tag' is not KEY=VALUE (key 1-128 characters, value up to 256, no control characters)"
      tag_key=${BASH_REMATCH[1]} tag_value=${BASH_REMATCH[2]}
    else
      [[ $asg =~ ^[^[:cntrl:]]{1,255}$ ]] || usage_error "--asg '$asg' is not an Auto Scaling group name (1-255 characters)"
    fi
  elif [[ -n $tag || -n $asg ]]; then
    usage_error "document takes no --tag or --asg"
  fi

  OUTPUT=${OUTPUT:-output}
  if [[ $action == upgrade ]]; then
    if [[ -z $digest ]]; then
      [[ -s $OUTPUT/digest ]] || usage_error "no --digest given and no $OUTPUT/digest (make push writes it)"
      digest=$(head -n1 "$OUTPUT/digest")
      is_digest "$digest" || usage_error "$OUTPUT/digest does not hold a digest (sha256:<64 hex>), got '$digest'"
    fi
    is_digest "$digest" || usage_error "--digest must be sha256:<64 hex digits>, got '$digest'"
    # Syntax of the wave sizes now; whether they cover the hosts once they are known.
    IFS=, read -r -a wave_items <<<"$waves,"
    ((${#wave_items[@]})) || usage_error "--waves is empty"
    for i in "${!wave_items[@]}"; do
      w=${wave_items[i]}
      if [[ $w == rest ]]; then
        ((i == ${#wave_items[@]} - 1)) || usage_error "--waves '$waves': rest can only be the last wave"
      elif [[ ! $w =~ ^[1-9][0-9]{0,5}$ && ! $w =~ ^([1-9][0-9]?|100)%$ ]]; then
        usage_error "--waves '$waves': '$w' is not a number of hosts (1 or more), a percentage (1%-100%) or rest"
      fi
    done
  fi
}

# --- AWS calls ---------------------------------------------------------------------------
# aws_try ARGS...: the CLI's JSON on stdout, its error text in $tmp/err, its exit code.
# Exit codes (AWS CLI return codes): 252 bad command line, 253 no credentials or bad
# configuration, 254 the service refused (the text holds the error code), 255 other.
aws_try() { aws --region "$region" --output json --no-cli-pager "$@" 2>"$tmp/err"; }

# awsc ARGS...: like aws_try, but a failure ends the run with one line naming the call.
awsc() {
  local rc=0
  aws_try "$@" || rc=$?
  ((rc == 0)) && return 0
  local msg
  msg=$(first_line "$(<"$tmp/err")")
  case $rc in
    253) die "aws $1 $2: no usable AWS credentials or configuration: ${msg:-exit 253} (aws configure, AWS_PROFILE)" ;;
    *) if [[ $msg == *AccessDenied* || $msg == *UnauthorizedOperation* || $msg == *"not authorized"* ]]; then
         die "aws $1 $2: not allowed for this identity (see docs/013-fleet-rollouts.md#iam): $msg"
       fi
       die "aws $1 $2 failed (exit $rc): ${msg:-no error text}" ;;
  esac
}

# preflight: credentials, and the document the instances will run.
preflight() {
  local who
  who=$(awsc sts get-caller-identity) || exit 1
  log "AWS identity: $(jq -r .Arn <<<"$who") (region $region)"
  [[ ${1:-} == nodoc ]] && return 0
  local rc=0 doc
  doc=$(aws_try ssm describe-document --name "$document") || rc=$?
  if ((rc)); then
    if grep -q '(InvalidDocument)' "$tmp/err"; then
      die "the SSM document '$document' does not exist in $region; create it with: make ssm-document"
    fi
    awsc ssm describe-document --name "$document" >/dev/null
  fi
  [[ $(jq -r .Document.Status <<<"$doc") == Active ]] ||
    die "the SSM document '$document' is $(jq -r .Document.Status <<<"$doc"), not Active; try again in a minute"
}

# select_hosts: the instance IDs the selection names, one per line, sorted.
select_hosts() {
  local out
  if [[ -n $tag ]]; then
    local filters
    # JSON, not the Name=...,Values=... shorthand: a comma or quote in a value stays data.
    filters=$(jq -cn --arg k "tag:$tag_key" --arg v "$tag_value" \
      '[{Name: $k, Values: [$v]}, {Name: "instance-state-name", Values: ["running"]}]')
    out=$(awsc ec2 describe-instances --filters "$filters") || exit 1
    jq -r '.Reservations[].Instances[].InstanceId' <<<"$out" | sort -u
  else
    out=$(awsc autoscaling describe-auto-scaling-groups --auto-scaling-group-names "$asg") || exit 1
    [[ $(jq '.AutoScalingGroups | length' <<<"$out") -gt 0 ]] ||
      die "there is no Auto Scaling group '$asg' in $region"
    jq -r '.AutoScalingGroups[0].Instances[] | select(.LifecycleState != "InService")
      | "\(.InstanceId) is \(.LifecycleState), not InService: skipped"' <<<"$out" | while IFS= read -r l; do warn "$l"; done
    jq -r '.AutoScalingGroups[0].Instances[] | select(.LifecycleState == "InService") | .InstanceId' <<<"$out" | sort -u
  fi
}

selection() { if [[ -n $tag ]]; then printf 'tag %s' "$tag"; else printf 'Auto Scaling group %s' "$asg"; fi; }

# pings IDS...: "ID<TAB>PingStatus" per instance; NotManaged when SSM does not know it.
# Callers redirect it to a file (not a process substitution), so a failed call ends the run.
pings() {
  local ids=("$@") i out filters
  for ((i = 0; i < ${#ids[@]}; i += BATCH)); do
    filters=$(jq -cn --args '[{Key: "InstanceIds", Values: $ARGS.positional}]' -- "${ids[@]:i:BATCH}")
    out=$(awsc ssm describe-instance-information --filters "$filters") || exit 1
    jq -r --args '(.InstanceInformationList | map({(.InstanceId): .PingStatus}) | add // {}) as $p
      | $ARGS.positional[] | "\(.)\t\($p[.] // "NotManaged")"' -- "${ids[@]:i:BATCH}" <<<"$out"
  done
}

# select_and_ping: after the preflight, the selected instances into the caller's ids and
# their "ID<TAB>PingStatus" lines into $tmp/ping.
select_and_ping() {
  preflight
  select_hosts >"$tmp/hosts"
  mapfile -t ids <"$tmp/hosts"
  ((${#ids[@]})) || die "no instance matches $(selection) in $region"
  pings "${ids[@]}" >"$tmp/ping"
}

# ssm_run ACTION DIGEST CONCURRENCY MAXERRORS DEADLINE IDS...: send the document's ACTION
# to the instances (batches of 50) and wait for every answer until DEADLINE ($SECONDS).
# Writes $tmp/results.json: {ID: {status, code, result (the document's JSON line), error}}.
# Unanswered invocations are cancelled at the deadline, so a late apply cannot reboot a
# host after the rollout moved on; they show as status NoAnswer.
ssm_run() {
  local act=$1 want=$2 conc=$3 errs=$4 deadline=$5
  shift 5
  local ids=("$@") i out params cids=() cid
  params=$(jq -cn --arg a "$act" --arg d "$want" --arg g "$allow_downgrade" --arg w "$wait_boot" \
    '{action: [$a], expectedDigest: [$d], allowDowngrade: [$g], waitBootSeconds: [$w]}')
  for ((i = 0; i < ${#ids[@]}; i += BATCH)); do
    out=$(awsc ssm send-command --document-name "$document" --instance-ids "${ids[@]:i:BATCH}" \
      --parameters "$params" --comment "bootc-testboot fleet: $act ${want:0:19}" \
      --max-concurrency "$conc" --max-errors "$errs" --timeout-seconds 600) || exit 1
    cids+=("$(jq -r .Command.CommandId <<<"$out")")
  done
  echo '{}' >"$tmp/results.json"
  while :; do
    for cid in "${cids[@]}"; do
      out=$(awsc ssm list-command-invocations --command-id "$cid" --details) || exit 1
      # Terminal invocation statuses: Success, Failed, TimedOut, Cancelled (the API's
      # CommandInvocationStatus; Pending, InProgress, Delayed and Cancelling are not).
      jq -c --argjson r "$(<"$tmp/results.json")" '
        reduce (.CommandInvocations[] | select(.Status | IN("Success", "Failed", "TimedOut", "Cancelled"))) as $i ($r;
          .[$i.InstanceId] = {status: $i.Status, details: $i.StatusDetails, code: ($i.CommandPlugins[0].ResponseCode // null),
            result: (($i.CommandPlugins[0].Output // "") | split("\n")[0] | try fromjson catch null)}
          | .[$i.InstanceId].error = (.[$i.InstanceId].result.error // (if $i.Status == "Success" then null
              else "\($i.StatusDetails) (\(($i.CommandPlugins[0].Output // "") | split("\n")[0][0:200]))" end)))' \
        <<<"$out" >"$tmp/results.new" && mv "$tmp/results.new" "$tmp/results.json"
    done
    [[ $(jq --args '[$ARGS.positional[] as $i | select(has($i) | not)] | length' -- "${ids[@]}" <"$tmp/results.json") == 0 ]] && return 0
    if ((SECONDS >= deadline)); then
      for cid in "${cids[@]}"; do aws_try ssm cancel-command --command-id "$cid" >/dev/null || true; done
      jq -c --args 'reduce ($ARGS.positional[]) as $i (.; if has($i) then . else
        .[$i] = {status: "NoAnswer", result: null, error: "no answer from SSM in time (command cancelled)"} end)' \
        -- "${ids[@]}" <"$tmp/results.json" >"$tmp/results.new" && mv "$tmp/results.new" "$tmp/results.json"
      return 0
    fi
    sleep "$poll"
  done
}

# r ID JQPATH: a field of ID's result in $tmp/results.json.
r() { jq -r --arg i "$1" ".[\$i]$2 // empty" "$tmp/results.json"; }

short() { [[ -n $1 ]] && printf '%s' "${1:0:19}" || printf -- '-'; }

# --- document ------------------------------------------------------------------------------
# shellcheck disable=SC2016 # $LATEST is the API's literal version name
do_document() {
  [[ -f $DOC_FILE ]] || die "$DOC_FILE is missing"
  preflight nodoc
  local rc=0 out v
  aws_try ssm describe-document --name "$document" >/dev/null || rc=$?
  if ((rc)); then
    grep -q '(InvalidDocument)' "$tmp/err" || awsc ssm describe-document --name "$document" >/dev/null
    out=$(awsc ssm create-document --name "$document" --document-type Command --document-format YAML \
      --content "file://$DOC_FILE") || exit 1
    log "created SSM document $document (version $(jq -r .DocumentDescription.DocumentVersion <<<"$out"))"
    echo "created: $document version 1"
    return 0
  fi
  rc=0
  out=$(aws_try ssm update-document --name "$document" --document-version '$LATEST' --document-format YAML \
    --content "file://$DOC_FILE") || rc=$?
  if ((rc)); then
    if grep -q '(DuplicateDocumentContent)' "$tmp/err"; then
      log "SSM document $document already holds ssm/bootc-testboot-os.yaml"
      echo "unchanged: $document"
      return 0
    fi
    awsc ssm update-document --name "$document" --document-version '$LATEST' --document-format YAML \
      --content "file://$DOC_FILE" >/dev/null
  fi
  v=$(jq -r .DocumentDescription.DocumentVersion <<<"$out")
  # Commands without --document-version run the default version, not the latest.
  awsc ssm update-document-default-version --name "$document" --document-version "$v" >/dev/null || exit 1
  log "updated SSM document $document to version $v (now the default)"
  echo "updated: $document version $v"
}

# --- status --------------------------------------------------------------------------------
do_status() {
  local ids=() online=() id p
  select_and_ping
  declare -A ping_of=()
  while IFS=$'\t' read -r id p; do ping_of[$id]=$p; [[ $p == Online ]] && online+=("$id"); done <"$tmp/ping"
  echo '{}' >"$tmp/results.json"
  ((${#online[@]} == 0)) || ssm_run status "" 100% 100% $((SECONDS + timeout_s)) "${online[@]}"
  local rows=()
  for id in "${ids[@]}"; do
    rows+=("$(jq -c --arg i "$id" --arg p "${ping_of[$id]}" '{instance: $i, ping: $p, result: .[$i].result, error: .[$i].error}' "$tmp/results.json")")
  done
  if $json; then
    printf '%s\n' "${rows[@]}" | jq -s '[.[] | {instance, ping, error,
      booted: .result.booted, staged: .result.staged, rollback: .result.rollback, lastVerify: .result.lastVerify}]'
    return 0
  fi
  printf '%-20s %-15s %-20s %-16s %-20s %s\n' INSTANCE PING BOOTED VERSION STAGED "LAST VERIFY"
  printf '%s\n' "${rows[@]}" | jq -r '
    def s: if . == null then "-" else .[0:19] end;
    [.instance, .ping, (.result.booted.digest | s), (.result.booted.version // "-"),
     (if .result.staged == null then "-" else (.result.staged.digest | s) end),
     (if .error then "error: \(.error)" elif .result.lastVerify == null then "never"
      else "\(if .result.lastVerify.ok then "ok" else "FAILED" end) \(.result.lastVerify.at // "") (\(.result.lastVerify.digest | s))" end)]
    | @tsv' | while IFS=$'\t' read -r a b c d e f; do
    printf '%-20s %-15s %-20s %-16s %-20s %s\n' "$a" "$b" "$c" "$d" "$e" "$f"
  done
}

# --- upgrade ---------------------------------------------------------------------------------
# st JQ [ARGS...]: update the state file (written whole, then renamed: a kill leaves the
# previous or the new state, never half of one).
st() { jq "$1" "${@:2}" "$statef" >"$statef.tmp" && mv "$statef.tmp" "$statef"; }
stq() { jq -r "$@" "$statef"; }
# host_set ID STATE DETAIL: one host's state, and a progress line.
# shellcheck disable=SC2016 # jq programs: $names are jq variables
host_set() {
  st '.hosts[$i].state = $s | .hosts[$i].detail = (if $d == "" then null else $d end) | .updated = $t' \
    --arg i "$1" --arg s "$2" --arg d "${3:-}" --arg t "$(utc_now)"
  log "  $1: $2${3:+ ($3)}"
}

# plan_waves IDS...: wave sizes from --waves over these hosts; "WAVE<TAB>ID" lines.
plan_waves() {
  local n=$# left=$# sizes=() w s i=0 k
  for w in "${wave_items[@]}"; do
    ((left > 0)) || break
    case $w in
      rest) s=$left ;;
      *%) s=$(((${w%\%} * n + 99) / 100)) ;;
      *) s=$w ;;
    esac
    ((s > left)) && s=$left
    sizes+=("$s")
    left=$((left - s))
  done
  ((left == 0)) || usage_error "--waves '$waves' covers $((n - left)) of the $n hosts; end it with rest"
  local ids=("$@") wave=0
  for s in "${sizes[@]}"; do
    wave=$((wave + 1))
    for ((k = 0; k < s; k++)); do printf '%s\t%s\n' "$wave" "${ids[i]}"; i=$((i + 1)); done
  done
}

print_plan() { # PLAN_LINES
  awk -F '\t' '{ h[$1] = h[$1] " " $2; c[$1]++; if ($1 > m) m = $1 }
    END { for (w = 1; w <= m; w++) printf "wave %d%s: %d host(s):%s\n", w, (w == 1 ? " (canary)" : ""), c[w], h[w] }' <<<"$1"
}

# wait_online IDS... until DEADLINE: prints the IDs still not Online then.
wait_online() {
  local deadline=$1 id p
  shift
  local pending=("$@")
  while ((${#pending[@]})); do
    local still=()
    pings "${pending[@]}" >"$tmp/ping"
    while IFS=$'\t' read -r id p; do [[ $p == Online ]] || still+=("$id"); done <"$tmp/ping"
    pending=("${still[@]}")
    ((${#pending[@]} == 0 || SECONDS >= deadline)) && break
    sleep "$poll"
  done
  ((${#pending[@]} == 0)) || printf '%s\n' "${pending[@]}"
}

# verify_until DEADLINE WANT IDS...: until every host verified on its expected digest (WANT,
# or each host's "from" digest when WANT is "from") or failed for good. A host still on
# another digest (its reboot has not happened yet) is asked again. Prints "ID<TAB>ok" or
# "ID<TAB>failed<TAB>why" per host.
# shellcheck disable=SC2016 # jq programs: $names are jq variables
verify_until() {
  local deadline=$1 want=$2 id p d exp
  shift 2
  local pending=("$@")
  while ((${#pending[@]})); do
    local online=() still=()
    pings "${pending[@]}" >"$tmp/ping"
    while IFS=$'\t' read -r id p; do
      if [[ $p == Online ]]; then online+=("$id"); else still+=("$id"); fi
    done <"$tmp/ping"
    if ((${#online[@]})); then
      ssm_run verify "$([[ $want == from ]] || echo "$want")" 100% 100% "$deadline" "${online[@]}"
      for id in "${online[@]}"; do
        exp=$want
        [[ $want == from ]] && exp=$(stq --arg i "$id" '.hosts[$i].from // empty')
        d=$(r "$id" .result.booted.digest)
        if [[ $(r "$id" .result.ok) == true && $d == "$exp" ]]; then
          printf '%s\tok\n' "$id"
        elif [[ -n $d && $d == "$exp" ]]; then
          printf '%s\tfailed\tverify failed on %s: %s\n' "$id" "${d:0:19}" \
            "$(jq -r --arg i "$id" '[.[$i].result.failed[]? | "\(.name): \(.detail)"] | join("; ") | if . == "" then "see its command output" else . end' "$tmp/results.json")"
        else
          still+=("$id")
        fi
      done
    fi
    pending=("${still[@]}")
    ((${#pending[@]})) || break
    if ((SECONDS >= deadline)); then
      for id in "${pending[@]}"; do
        printf '%s\tfailed\tnot back on %s and verified within %ss\n' "$id" "${want:0:19}" "$timeout_s"
      done
      break
    fi
    sleep "$poll"
  done
}

# rollback_hosts IDS...: roll back the hosts that boot the rollout's digest, wait for them
# to verify on the image they had before. Sets each host's state.
# shellcheck disable=SC2016 # jq programs: $names are jq variables
rollback_hosts() {
  (($#)) || return 0
  local back=() live=() id p res
  pings "$@" >"$tmp/ping"
  while IFS=$'\t' read -r id p; do
    if [[ $p == Online ]]; then live+=("$id"); else host_set "$id" rollback-failed "SSM agent is $p: roll it back when it is reachable (make os-rollback)"; fi
  done <"$tmp/ping"
  ((${#live[@]})) || return 0
  log "rolling back: ${live[*]}"
  ssm_run rollback "$digest" 100% 100% $((SECONDS + timeout_s)) "${live[@]}"
  for id in "${live[@]}"; do
    res=$(r "$id" .result.result)
    case $(r "$id" .status)/$res in
      Success/rebooting) back+=("$id") ;;
      Success/not-on-digest) ;; # never applied: nothing to undo
      *) host_set "$id" rollback-failed "$(r "$id" .error)" ;;
    esac
  done
  ((${#back[@]})) || return 0
  local why
  verify_until $((SECONDS + timeout_s)) from "${back[@]}" >"$tmp/verified"
  while IFS=$'\t' read -r id res why; do
    if [[ $res == ok ]]; then
      host_set "$id" rolled-back "$(stq --arg i "$id" '.hosts[$i].detail // ""')"
    else
      host_set "$id" rollback-failed "$why"
    fi
  done <"$tmp/verified"
}

# run_wave N: every host of wave N on the digest and verified, or the wave fails.
# shellcheck disable=SC2016 # jq programs: $names are jq variables
run_wave() {
  local n=$1 nwaves allowed=$max_errors ids=() id p
  nwaves=$(stq '.waves | length')
  ((n == 1)) && allowed=0
  mapfile -t ids < <(stq --argjson n "$n" '.waves[$n - 1].hosts[] as $i | select(.hosts[$i].state | IN("download-failed", "current") | not) | $i')
  log "wave $n/$nwaves$([[ $n == 1 ]] && echo " (canary)"): ${#ids[@]} host(s), $allowed failure(s) allowed: ${ids[*]}"
  st '.waves[$n - 1].status = "in-progress"' --argjson n "$n"
  local deadline=$((SECONDS + timeout_s)) failed=() off
  # A resumed wave may hold hosts that were rebooting when the run was interrupted.
  wait_online "$deadline" "${ids[@]}" >"$tmp/offline"
  mapfile -t off <"$tmp/offline"
  for id in "${off[@]}"; do host_set "$id" failed "SSM agent not Online"; failed+=("$id"); done
  local live=()
  for id in "${ids[@]}"; do [[ " ${off[*]} " == *" $id "* ]] || live+=("$id"); done
  ((${#live[@]} == 0)) || ssm_run status "" 100% 100% "$deadline" "${live[@]}"
  local apply=() fetch=() check=()
  for id in "${live[@]}"; do
    if [[ $(r "$id" .status) != Success ]]; then
      host_set "$id" failed "status: $(r "$id" .error)"; failed+=("$id")
    elif [[ $(r "$id" .result.booted.digest) == "$digest" ]]; then
      check+=("$id")
    elif [[ $(r "$id" .result.staged.digest) == "$digest" ]]; then
      apply+=("$id")
    else
      fetch+=("$id")
    fi
  done
  if ((${#fetch[@]})); then
    # A reboot discards a download: fetch again what an interruption lost.
    ssm_run download "$digest" "$download_conc" 100% "$deadline" "${fetch[@]}"
    for id in "${fetch[@]}"; do
      if [[ $(r "$id" .status) == Success ]]; then apply+=("$id"); else host_set "$id" failed "download: $(r "$id" .error)"; failed+=("$id"); fi
    done
  fi
  if ((${#apply[@]})); then
    # The wave is the unit of exposure, so all of it applies at once (MaxConcurrency
    # 100%); MaxErrors stops SSM from sending to the rest of a batch once more applies
    # failed than the wave allows.
    ssm_run apply "$digest" 100% "$((allowed + 1))" "$deadline" "${apply[@]}"
    for id in "${apply[@]}"; do
      if [[ $(r "$id" .status) == Success ]]; then
        host_set "$id" applied; check+=("$id")
      else
        host_set "$id" failed "apply: $(r "$id" .error)"; failed+=("$id")
      fi
    done
  fi
  local res why
  if ((${#check[@]})); then
    verify_until "$deadline" "$digest" "${check[@]}" >"$tmp/verified"
    while IFS=$'\t' read -r id res why; do
      if [[ $res == ok ]]; then host_set "$id" verified; else host_set "$id" failed "$why"; failed+=("$id"); fi
    done <"$tmp/verified"
  fi
  if ((${#failed[@]} > allowed)); then
    warn "wave $n: ${#failed[@]} host(s) failed, $allowed allowed: halting and rolling this wave back"
    st '.waves[$n - 1].status = "halted" | .status = "halted"' --argjson n "$n"
    local back=()
    for id in "${ids[@]}"; do
      [[ $(stq --arg i "$id" '.hosts[$i].state') == failed && " ${off[*]} " == *" $id "* ]] && continue
      back+=("$id")
    done
    rollback_hosts "${back[@]}"
    return 1
  fi
  if ((${#failed[@]})); then
    warn "wave $n: ${#failed[@]} host(s) failed ($allowed allowed): rolling them back, continuing"
    rollback_hosts "${failed[@]}"
  fi
  st '.waves[$n - 1].status = "done"' --argjson n "$n"
}

report() {
  local status
  status=$(stq .status)
  echo
  echo "rollout $(stq .id) of $digest to $(selection): $status"
  stq '.hosts | to_entries[] | "\(.key)\t\(.value.wave // "-")\t\(.value.state)\t\(.value.detail // "")"' |
    while IFS=$'\t' read -r a b c d; do printf '  %-20s wave %-3s %-20s %s\n' "$a" "$b" "$c" "$d"; done
  echo "report: $statef"
}

# shellcheck disable=SC2016 # jq programs: $names are jq variables
do_upgrade() {
  local ids=() online=() offline=() id p
  select_and_ping
  while IFS=$'\t' read -r id p; do
    if [[ $p == Online ]]; then online+=("$id"); else offline+=("$id"); warn "$id: SSM agent is $p: skipped"; fi
  done <"$tmp/ping"
  ((${#online[@]})) || die "none of the ${#ids[@]} instances of $(selection) has its SSM agent Online"

  local key
  key=$(printf '%s\n%s\n%s\n%s\n' "$region" "${tag:+tag=$tag}" "${asg:+asg=$asg}" "$digest" | sha256sum | cut -c1-12)
  statef=$OUTPUT/fleet/rollout-$key.json
  local resume=false
  if [[ -f $statef ]]; then
    case $(jq -r .status "$statef" 2>/dev/null) in
      in-progress) resume=true ;;
      halted)
        $restart || die "the rollout of $digest to $(selection) halted on $(jq -r .updated "$statef") (report: $statef); fix the image, or pass --restart to start over"
        ;;
    esac
  fi

  if $resume; then
    log "resuming the interrupted rollout $key from $statef"
    print_plan "$(stq '.waves | to_entries[] | .key as $k | .value.hosts[] | "\($k + 1)\t\(.)"')"
  else
    local plan
    plan=$(plan_waves "${online[@]}")
    echo "plan: $digest to ${#online[@]} host(s) of $(selection) (${#offline[@]} offline skipped)"
    print_plan "$plan"
    if $dry_run; then
      echo "dry run: nothing sent. Hosts already on the digest are skipped, and the plan is made again over the hosts whose download succeeds, when it runs."
      return 0
    fi
  fi
  $dry_run && { echo "dry run: nothing sent"; return 0; }
  confirm "Roll $digest out to $(selection) (${#online[@]} host(s), rebooting them wave by wave)?" ||
    die "not confirmed; nothing changed"

  if ! $resume; then
    mkdir -p "$OUTPUT/fleet" || die "cannot create $OUTPUT/fleet"
    jq -n --arg id "$key" --arg d "$digest" --arg sel "$(selection)" --arg r "$region" --arg doc "$document" \
      --arg w "$waves" --argjson me "$max_errors" --arg t "$(utc_now)" --args \
      '{id: $id, digest: $d, selection: $sel, region: $r, document: $doc, waves_spec: $w, max_errors: $me,
        started: $t, updated: $t, status: "in-progress", waves: [],
        hosts: (reduce $ARGS.positional[] as $h ({}; .[$h] = {wave: null, state: "pending", from: null, detail: null}))}' \
      -- "${online[@]}" >"$statef.tmp" || die "cannot write $statef"
    mv "$statef.tmp" "$statef"
    for id in "${offline[@]}"; do
      st '.hosts[$i] = {wave: null, state: "offline", from: null, detail: "SSM agent not Online"}' --arg i "$id"
    done
    # Which hosts already run the digest, and what each boots now (the rollback target).
    log "asking ${#online[@]} host(s) for their status"
    ssm_run status "" 100% 100% $((SECONDS + timeout_s)) "${online[@]}"
    local need=()
    for id in "${online[@]}"; do
      st '.hosts[$i].from = $f' --arg i "$id" --arg f "$(r "$id" .result.booted.digest)"
      if [[ $(r "$id" .status) != Success ]]; then
        host_set "$id" download-failed "status: $(r "$id" .error)"
      elif [[ $(r "$id" .result.booted.digest) == "$digest" ]]; then
        host_set "$id" current "already boots the digest"
      else
        need+=("$id")
      fi
    done
    local ready=()
    if ((${#need[@]})); then
      # Downloads do not reboot: all hosts at once, SSM pacing the registry load
      # (MaxConcurrency). MaxErrors 100%: a failed download only drops that host.
      log "downloading $digest on ${#need[@]} host(s) (no reboot)"
      ssm_run download "$digest" "$download_conc" 100% $((SECONDS + timeout_s)) "${need[@]}"
      for id in "${need[@]}"; do
        if [[ $(r "$id" .status) == Success ]]; then
          host_set "$id" staged; ready+=("$id")
        else
          host_set "$id" download-failed "$(r "$id" .error)"
        fi
      done
    fi
    if ((${#ready[@]} == 0)); then
      st '.status = "complete"'
      report
      [[ $(stq '[.hosts[] | select(.state == "download-failed")] | length') == 0 ]] || die "no host could download $digest"
      echo "nothing to roll out: every Online host already boots $digest"
      return 0
    fi
    plan=$(plan_waves "${ready[@]}")
    print_plan "$plan"
    local w
    while IFS=$'\t' read -r w id; do
      st '.hosts[$i].wave = ($w | tonumber) | .waves[($w | tonumber) - 1] |= ((. // {hosts: [], status: "pending"}) | .hosts += [$i])' \
        --arg i "$id" --arg w "$w"
    done <<<"$plan"
  fi

  local n nwaves
  nwaves=$(stq '.waves | length')
  for ((n = 1; n <= nwaves; n++)); do
    [[ $(stq --argjson n "$n" '.waves[$n - 1].status') == "done" ]] && continue
    if ! run_wave "$n"; then
      report
      die "rollout halted in wave $n: that wave was rolled back, earlier waves keep $digest"
    fi
  done
  st '.status = "complete"'
  report
  local bad
  bad=$(stq '[.hosts[] | select(.state | IN("verified", "current", "pending", "staged") | not)] | length')
  ((bad == 0)) || warn "$bad host(s) did not take $digest (see the report)"
}

main() {
  parse_args "$@"
  require_cmd jq
  require_cmd aws "AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
  temp_dir "${TMPDIR:-/tmp}"
  case $action in
    document) do_document ;;
    status) do_status ;;
    upgrade) do_upgrade ;;
  esac
}

main "$@"

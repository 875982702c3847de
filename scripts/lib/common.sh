# shellcheck shell=bash
# Shared helpers for every script in scripts/. Source it; never execute it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Conventions every script follows:
#   exit 0 success, 1 runtime failure, 2 usage error (bad flag, bad value);
#   errors are one line on stderr, prefixed with the script name;
#   nothing mutating happens before all input has been validated.

# shellcheck disable=SC2034 # the scripts that source this file use them
# Exit codes shared by all scripts. EX_BUSY: another operation holds the lock (see take_lock).
readonly EX_OK=0 EX_FAIL=1 EX_USAGE=2 EX_BUSY=3

PROG=${PROG:-$(basename "${BASH_SOURCE[1]:-$0}")}

# log MSG...: progress on stderr, and into the journal when one is reachable.
log() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  journal info "$*"
}

# warn MSG...: a warning on stderr and in the journal.
warn() {
  printf '%s: warning: %s\n' "$PROG" "$*" >&2
  journal warning "$*"
}

# die MSG...: a one-line error, exit 1.
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  journal err "$*"
  exit "$EX_FAIL"
}

# usage_error MSG...: a one-line usage error with a pointer to --help, exit 2.
usage_error() {
  printf '%s: %s (see --help)\n' "$PROG" "$*" >&2
  exit "$EX_USAGE"
}

# usage: --help, the script's header comment (from line 2 up to `set -euo pipefail`).
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}

# journal PRIORITY MSG: best effort; a missing logger never breaks a script.
journal() {
  local prio=$1
  shift
  if [[ -z ${TESTBOOT_NO_JOURNAL:-} ]] && command -v logger >/dev/null 2>&1; then
    logger --tag "bootc-testboot/$PROG" --priority "user.$prio" -- "$*" 2>/dev/null || true
  fi
}

# need_value FLAG VALUE: a flag that takes a value must get one.
need_value() {
  [[ $# -ge 2 && -n $2 && $2 != --* ]] || usage_error "$1 needs a value"
}

# require_cmd CMD [HINT]: fail early when a tool is missing.
require_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed${2:+ ($2)}"
}

# require_root: the operations below change the booted system or root's image storage.
require_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (try: sudo $PROG ...)"
}

# confirm PROMPT: ask on the terminal; --yes (ASSUME_YES=1) answers for the user.
# Without a terminal and without --yes the answer is no.
confirm() {
  [[ ${ASSUME_YES:-0} == 1 ]] && return 0
  if [[ ! -t 0 ]]; then
    die "$1 -- refusing without a terminal; pass --yes to confirm"
  fi
  local answer
  read -r -p "$1 [y/N] " answer
  [[ $answer == [yY] || $answer == [yY][eE][sS] ]]
}

# sh_quote ARG...: each argument as one single-quoted POSIX shell word, space-separated.
# Used for command lines another shell evaluates (ssh): the text comes back as exactly
# these arguments, whatever they contain ($(...), ;, quotes, newlines), in any POSIX
# shell. (printf %q may emit bash-only $'...' forms a remote sh cannot read.)
sh_quote() {
  local a out=() q="'\\''"
  for a in "$@"; do
    out+=("'${a//\'/$q}'")
  done
  printf '%s' "${out[*]}"
}

# ver_ge A B: version A (X.Y.Z) is at least B.
ver_ge() {
  [[ $(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1) == "$2" ]]
}

# take_lock: one bootc-testboot operation at a time on this host. The lock is held on fd 9
# until the script exits; a second run fails at once with EX_BUSY instead of waiting.
# TESTBOOT_LOCK overrides the lock file.
take_lock() {
  local lock=${TESTBOOT_LOCK:-/run/lock/bootc-testboot.lock}
  require_cmd flock "util-linux"
  mkdir -p "$(dirname "$lock")" 2>/dev/null || true
  exec 9>>"$lock" || die "cannot open lock file $lock"
  if ! flock -n 9; then
    printf '%s: error: another bootc-testboot operation is running (lock %s); try again when it has finished\n' \
      "$PROG" "$lock" >&2
    journal err "refused: another operation holds $lock"
    exit "$EX_BUSY"
  fi
}

# testboot_state_dir: where upgrade/rollback keep their records (persistent /var, never
# rolled back). TESTBOOT_STATE_DIR overrides it.
testboot_state_dir() {
  printf '%s' "${TESTBOOT_STATE_DIR:-/var/lib/bootc-testboot}"
}

# is_digest S: a sha256 digest as bootc reports it.
is_digest() {
  [[ $1 =~ ^sha256:[0-9a-f]{64}$ ]]
}

# is_tag S: an image tag registries accept (at most 128 of letters, digits, _ . -).
is_tag() {
  [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]
}

# is_repo_name S: REGISTRY[:PORT]/PATH in lower case, without tag or digest.
is_repo_name() {
  [[ $1 =~ ^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)+$ ]]
}

# describe_image JQPATH JSON: "sha256:... (version V, built T)" of the ImageStatus at
# JQPATH in a bootc status document, or "none".
describe_image() {
  jq -r "$1"' | if . == null then "none" else
      "\(.imageDigest) (version \(.version // "unknown")\(if .timestamp then ", built \(.timestamp)" else "" end))" end' <<<"$2"
}

# bootc_version: the X.Y.Z of `bootc --version` ("bootc 1.12.0").
bootc_version() {
  local out
  out=$(bootc --version 2>&1) || die "bootc --version failed: ${out%%$'\n'*}"
  [[ $out =~ ([0-9]+\.[0-9]+\.[0-9]+) ]] || die "cannot read the bootc version from '${out%%$'\n'*}'"
  printf '%s' "${BASH_REMATCH[1]}"
}

# bootc_status: the host document, `bootc status --format=json --format-version=1`.
# The only source of deployment state: human output is never parsed.
bootc_status() {
  local out
  out=$(bootc status --format=json --format-version=1 2>&1) || die "bootc status failed: ${out%%$'\n'*}"
  jq -e '.apiVersion and (.status | type == "object")' >/dev/null 2>&1 <<<"$out" ||
    die "bootc status did not print a status document: ${out:0:120}"
  printf '%s' "$out"
}

# require_bootc_host JSON: the machine must be booted via bootc (status.booted != null).
require_bootc_host() {
  [[ $(jq -r '.status.booted != null' <<<"$1") == true ]] ||
    die "this machine is not booted via bootc (bootc status shows no booted deployment)"
}

# bad_digest_note DIGEST: the line recorded when DIGEST was rolled back from; empty if never.
bad_digest_note() {
  local f
  f=$(testboot_state_dir)/bad-digests
  [[ -f $f ]] || return 0
  awk -v d="$1" -F '\t' '$1 == d { print; exit }' "$f"
}

# record_bad_digest DIGEST VERSION: remember a digest a rollback abandoned, so upgrades
# refuse it (the update timer or an operator would otherwise stage it again).
record_bad_digest() {
  local dir
  dir=$(testboot_state_dir)
  is_digest "$1" || die "refusing to record '$1' as a bad digest: not sha256:<64 hex>"
  mkdir -p "$dir" || die "cannot create $dir"
  [[ -n $(bad_digest_note "$1") ]] && return 0
  printf '%s\t%s\t%s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${2:-}" >>"$dir/bad-digests" ||
    die "cannot write $dir/bad-digests"
}

# run_detached UNIT CMD...: run CMD as a transient systemd unit outside this session, so
# a command that reboots the machine lets an SSH session return cleanly first.
# Follow it with: journalctl -u UNIT. It fails when the unit cannot start; the caller
# says what its earlier steps left behind, and checks `require_cmd systemd-run` before
# its first change.
run_detached() {
  local unit=$1
  shift
  systemd-run --unit="$unit" --collect --quiet -- "$@"
}

# image_ref_problem REF: why REF is not a usable registry image reference (empty output
# when it is one): HOST[:PORT]/PATH with a :TAG and/or @sha256:DIGEST, nothing a shell or
# a command line could read differently, and not localhost/ (a host installed from a
# localhost/ reference would look for its updates on localhost).
image_ref_problem() {
  local ref=$1
  local comp='[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*'
  local host='[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]+)?'
  local tag='[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}'
  local first=${ref%%/*}
  if [[ -z $ref ]]; then
    echo "the image reference is empty"
  elif [[ ! $ref =~ ^[A-Za-z0-9._:/@-]+$ ]]; then
    echo "image reference '$ref' contains characters not allowed in a reference (spaces, quotes or shell metacharacters)"
  elif [[ $first == localhost || $first == localhost:* ]]; then
    echo "image reference '$ref' is a localhost/ reference: build or pull the image under its registry reference (instances update from the reference they were installed from)"
  elif [[ $ref != */* || ( $first != *.* && $first != *:* ) ]]; then
    echo "image reference '$ref' has no registry host (e.g. ghcr.io/org/name:tag)"
  elif [[ ! $ref =~ (:$tag|@sha256:[0-9a-f]{64})$ || ${ref#*/} != *[:@]* ]]; then
    echo "image reference '$ref' needs a tag or a digest (e.g. :v1.2.3 or @sha256:...)"
  elif [[ ! $ref =~ ^$host/$comp(/$comp)*(:$tag)?(@sha256:[0-9a-f]{64})?$ ]]; then
    echo "image reference '$ref' is malformed (HOST/NAME:TAG or HOST/NAME@sha256:DIGEST, lowercase name)"
  fi
}

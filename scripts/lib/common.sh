# shellcheck shell=bash
# Shared helpers for every script in scripts/. Source it; never execute it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Conventions every script follows:
#   exit 0 success, 1 runtime failure, 2 usage error (bad flag, bad value);
#   errors are one line on stderr, prefixed with the script name;
#   nothing mutating happens before all input has been validated.

# Exit codes shared by all scripts.
readonly EX_OK=0 EX_FAIL=1 EX_USAGE=2

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

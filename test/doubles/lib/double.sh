# shellcheck shell=bash
# Shared by the test doubles in test/doubles/bin/. Source it; never execute it.
#
# Contract of every double:
#   - records each call as one JSON line {"tool":"<name>","args":[...]} appended to
#     $DOUBLES_LOG (when set), BEFORE doing anything else, so even a failing call
#     is in the record;
#   - reads its scenario from files under $DOUBLES_STATE/<tool>/ (absent = the normal,
#     successful behaviour);
#   - follows the upstream tool's output lines and exit codes (see the reference
#     fact sheets), so the scripts are tested against what the real tool says.

# record TOOL ARGS...: append the call to $DOUBLES_LOG.
record() {
  local tool=$1
  shift
  [[ -n ${DOUBLES_LOG:-} ]] || return 0
  jq -cn --arg tool "$tool" '{tool: $tool, args: $ARGS.positional}' --args -- "$@" >>"$DOUBLES_LOG"
}

# state_dir TOOL: the scenario directory of a tool (may not exist).
state_dir() {
  printf '%s/%s' "${DOUBLES_STATE:-/nonexistent}" "$1"
}

# real_tool NAME: the first NAME on PATH that is not one of the doubles.
real_tool() {
  local here p
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")/../bin" && pwd)
  local IFS=:
  for p in $PATH; do
    [[ $p == "$here" || -z $p ]] && continue
    if [[ -x $p/$1 && ! -d $p/$1 ]]; then
      printf '%s/%s' "$p" "$1"
      return 0
    fi
  done
  return 1
}

# park: what a process does after it asked systemd to reboot the machine: wait to be
# killed by the shutdown. Bounded by $DOUBLES_PARK_SECONDS (default 60), so a test that
# forgot to detach cannot hang.
park() {
  local secs=${DOUBLES_PARK_SECONDS:-60}
  sleep "$secs" &
  wait $! || true
  echo "double: still running ${secs}s after the reboot request (no reboot in a test)" >&2
  exit 1
}

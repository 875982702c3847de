#!/usr/bin/env bash
# Runs one of the scripts in scripts/ on this machine, or on a remote host over SSH with
# sudo: the one mechanism behind the day-2 make targets (make os-status HOST=user@ip).
#
# Usage: on-host.sh [--host USER@HOST] SCRIPT [ARGS...]
#
#   SCRIPT       a script name from scripts/ (upgrade-os.sh, rollback-os.sh,
#                verify-instance.sh...), not a path
#   ARGS         passed to the script unchanged: never re-split, globbed or evaluated,
#                locally or by the remote shell
#   --host USER@HOST
#                run on that host: the script and scripts/lib/ travel inside the ssh
#                command line into a private temp dir there (mktemp -d, removed
#                afterwards), and run with sudo unless USER is root. The remote host
#                needs only bash, sudo, base64, tar and gzip, nothing installed.
#                SSH options come from ~/.ssh/config (or SSH_OPTS, split on spaces, e.g.
#                SSH_OPTS="-i key.pem -o StrictHostKeyChecking=accept-new").
#   -h, --help   this help
#
# Locally the script runs as is when root, else through sudo when sudo exists (without
# sudo, the script's own root check explains). When this terminal is interactive, ssh
# gets one too (-t), so confirmations and sudo's password prompt work remotely.
#
# Exit status: the script's own; 1 ssh, base64 or tar is missing here; 2 usage error;
# 255 ssh could not connect.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

host=""
while (($#)); do
  case $1 in
    -h | --help) usage ;;
    --host) need_value "$@"; host=$2; shift ;;
    --host=*) host=${1#--host=}; [[ -n $host ]] || usage_error "--host needs a value" ;;
    --) shift; break ;;
    -*) bad_arg "$1" ;;
    *) break ;;
  esac
  shift
done
(($#)) || usage_error "no script given (e.g. upgrade-os.sh status)"
script=$1
shift

# Only a plain name of a script that exists in scripts/: no paths, no options.
[[ $script =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*\.sh$ ]] ||
  usage_error "'$script' is not a script name from scripts/ (no paths)"
if [[ $script == on-host.sh || ! -f $SCRIPTS_DIR/$script ]]; then
  available=()
  for f in "$SCRIPTS_DIR"/*.sh; do
    [[ ${f##*/} == on-host.sh ]] || available+=("${f##*/}")
  done
  usage_error "no script '$script' in scripts/ (available: ${available[*]})"
fi

if [[ -z $host ]]; then
  if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    exec sudo -- "$SCRIPTS_DIR/$script" "$@"
  fi
  exec "$SCRIPTS_DIR/$script" "$@"
fi

# USER@HOST with a plain user name and a host name, IPv4 or IPv6 address: nothing ssh
# could read as an option or a config directive.
[[ $host =~ ^[a-z_][a-z0-9_.-]*@([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]+\]?)$ ]] ||
  usage_error "--host '$host' is not USER@HOST (e.g. ec2-user@203.0.113.10)"
require_cmd ssh "openssh-client"
require_cmd base64
require_cmd tar

# The payload: this script's neighbour plus the shared library, as base64 of a tar.gz.
payload=$(tar -C "$SCRIPTS_DIR" -czf - -- "$script" lib | base64 -w0) ||
  die "cannot pack $script and lib/"

# The remote command: POSIX sh, every value single-quoted by sh_quote.
runner="bash \"\$d\"/$(sh_quote "$script")"
[[ $# -eq 0 ]] || runner+=" $(sh_quote "$@")"
remote="d=\$(mktemp -d) || exit 1; trap 'rm -rf \"\$d\"' EXIT; "
remote+="printf %s $(sh_quote "$payload") | base64 -d | tar -xzf - -C \"\$d\" || exit 1; "
remote+="if [ \"\$(id -u)\" -eq 0 ]; then $runner; else sudo -- $runner; fi"

ssh_opts=()
if [[ -n ${SSH_OPTS:-} ]]; then
  read -r -a ssh_opts <<<"$SSH_OPTS"
fi
[[ -t 0 && -t 1 ]] && ssh_opts+=(-t)
journal info "running $script on $host"
exec ssh "${ssh_opts[@]}" -- "$host" "$remote"

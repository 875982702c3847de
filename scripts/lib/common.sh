# shellcheck shell=bash
# Shared helpers for every script in scripts/. Source it; never execute it:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
#
# Conventions every script follows:
#   exit 0 success, 1 runtime failure, 2 usage error (bad flag, bad value);
#   errors are one line on stderr, prefixed with the script name;
#   nothing mutating happens before all input has been validated;
#   one parser shape: `while (($#)); do case $1 in ... esac; shift; done`, a flag with a
#   value checks it with need_value and shifts once more itself, `-h | --help) usage ;;`
#   first and `*) bad_arg "$1" ;;` last;
#   a script longer than a screenful of steps has parse_args and main, and ends with
#   `main "$@"`.

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

# usage: --help: print the script's header comment (from line 2 up to
# `set -euo pipefail`) and exit 0. Every parser calls it as `-h | --help) usage ;;`.
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "$EX_OK"
}

# bad_arg ARG: the usage error for an argument no case of a parser took; every parser
# ends with `*) bad_arg "$1" ;;`.
bad_arg() {
  [[ $1 == -* ]] && usage_error "unknown option '$1'"
  usage_error "unexpected argument '$1'"
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
# The lock lives in a directory only root can enter (created by tmpfiles at boot, see
# configs/tmpfiles.conf): a lock file other users can open could be held by any local
# user or a compromised app to block upgrades and rollbacks. TESTBOOT_LOCK overrides it.
take_lock() {
  local lock=${TESTBOOT_LOCK:-/run/bootc-testboot/lock}
  require_cmd flock "util-linux"
  (umask 077 && mkdir -p "$(dirname "$lock")") 2>/dev/null || true
  exec 9>>"$lock" || die "cannot open lock file $lock"
  if ! flock -n 9; then
    printf '%s: error: another bootc-testboot operation is running (lock %s); try again when it has finished\n' \
      "$PROG" "$lock" >&2
    journal err "refused: another operation holds $lock"
    exit "$EX_BUSY"
  fi
}

# temp_dir DIR: a new private directory under DIR in $tmp, removed with everything in
# it when the script exits. DIR is usually "${TMPDIR:-/tmp}".
temp_dir() {
  tmp=$(mktemp -d "$1/bootc-testboot.XXXXXX") || die "cannot create a temporary directory in $1"
  trap 'rm -rf "$tmp"' EXIT
}

# testboot_state_dir: where upgrade/rollback keep their records (persistent /var, never
# rolled back). TESTBOOT_STATE_DIR overrides it.
testboot_state_dir() {
  printf '%s' "${TESTBOOT_STATE_DIR:-/var/lib/bootc-testboot}"
}

# is_uint S: a whole number (digits only).
is_uint() {
  [[ $1 =~ ^[0-9]+$ ]]
}

# is_aws_region S: an AWS region name such as us-east-1.
is_aws_region() {
  [[ $1 =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]]
}

# is_local_registry HOST[:PORT]: a registry on this machine (plain HTTP is allowed there,
# and images built on the test stand-in may go there and nowhere else).
is_local_registry() {
  [[ $1 =~ ^(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?$ ]]
}

# utc_now: the current time as RFC 3339 UTC (what the state records hold).
utc_now() {
  date -u +%Y-%m-%dT%H:%M:%SZ
}

# digest_at JQPATH JSON: the value at JQPATH of a bootc status document, empty when null.
digest_at() {
  jq -r "$1 // empty" <<<"$2"
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

# check_image_args IMAGE VERSION [TAG...]: what build-image.sh and push-image.sh both
# take (--image, --version, --tag), checked the same way before anything runs.
check_image_args() {
  local image=$1 version=$2 t
  shift 2
  [[ -n $image ]] || usage_error "no image name: pass --image or set IMAGE"
  [[ -n $version ]] || usage_error "no version: pass --version or set VERSION"
  # A tag or digest inside the name would silently make it a different repository.
  is_repo_name "$image" ||
    usage_error "--image '$image' is not a repository name: REGISTRY/PATH in lower case without tag or digest"
  is_tag "$version" ||
    usage_error "--version '$version' is not a valid tag (letters, digits, '_', '.', '-'; at most 128)"
  for t in "$@"; do
    is_tag "$t" || usage_error "--tag '$t' is not a valid tag (letters, digits, '_', '.', '-'; at most 128)"
  done
}

# image_tags VERSION LATEST [TAG...]: the tags an image gets, one a line: VERSION, then
# "latest" unless LATEST is false, then each TAG; each once, in that order.
image_tags() {
  local version=$1 latest=$2
  shift 2
  { printf '%s\n' "$version"; [[ $latest == false ]] || echo latest; printf '%s\n' "$@"; } |
    awk 'NF && !seen[$0]++'
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

# run_split OUTFILE ERRFILE CMD...: run CMD with stdout and stderr in separate files.
run_split() {
  local out=$1 err=$2
  shift 2
  "$@" >"$out" 2>"$err"
}

# first_line TEXT: the first non-empty line of TEXT (for one-line error messages).
first_line() {
  local l
  while IFS= read -r l; do
    [[ -n ${l//[[:space:]]/} ]] && { printf '%s' "$l"; return 0; }
  done <<<"$1"
}

# bootc_status: the host document, `bootc status --format=json --format-version=1`.
# The only source of deployment state: human output is never parsed. Only stdout is
# JSON: with RUST_LOG set, bootc's tracing goes to stderr, which is shown on errors only.
bootc_status() {
  local tmp out err
  tmp=$(mktemp -d) || die "cannot create a temporary directory"
  if ! run_split "$tmp/out" "$tmp/err" bootc status --format=json --format-version=1; then
    err=$(<"$tmp/err")
    rm -rf "$tmp"
    die "bootc status failed: $(first_line "$err")"
  fi
  out=$(<"$tmp/out") err=$(<"$tmp/err")
  rm -rf "$tmp"
  jq -e '.apiVersion and (.status | type == "object")' >/dev/null 2>&1 <<<"$out" ||
    die "bootc status did not print a status document: ${out:0:120}${err:+ (stderr: $(first_line "$err"))}"
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

# record_bad_digest DIGEST VERSION [REASON]: remember a digest a rollback abandoned, so
# upgrades refuse it (the update timer or an operator would otherwise stage it again).
# One line per digest: DIGEST, time, version, reason (tab-separated; the reason says who
# rolled back and, for the boot health gate, which checks failed).
record_bad_digest() {
  local dir reason=${3:-}
  dir=$(testboot_state_dir)
  is_digest "$1" || die "refusing to record '$1' as a bad digest: not sha256:<64 hex>"
  mkdir -p "$dir" || die "cannot create $dir"
  [[ -n $(bad_digest_note "$1") ]] && return 0
  reason=${reason//[$'\t\n']/ }
  printf '%s\t%s\t%s\t%s\n' "$1" "$(utc_now)" "${2:-}" "$reason" >>"$dir/bad-digests" ||
    die "cannot write $dir/bad-digests"
}

# bad_digest_why NOTE: "TIME (REASON)" of a bad-digests line, for messages.
bad_digest_why() {
  awk -F '\t' '{ printf "%s%s", $2, ($4 == "" ? "" : " (" $4 ")") }' <<<"$1"
}

# Records of the boot health gate (scripts/health-gate.sh), next to bad-digests:
#   last-known-good    DIGEST, time, version of the last deployment that passed the gate
#   health/last.json   the gate's last result: boot, digest, result, failed checks
health_last_file() { printf '%s/health/last.json' "$(testboot_state_dir)"; }
last_known_good_file() { printf '%s/last-known-good' "$(testboot_state_dir)"; }

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

# bootc_authfile: the registry credentials bootc uses: the first of /run/ostree/auth.json,
# /etc/ostree/auth.json, /usr/lib/ostree/auth.json (bootc-dev/bootc
# crates/ostree-ext/src/globals.rs `get_config_paths`, `ConfigPaths::open_file`). Prints
# nothing when there is none: bootc then pulls anonymously
# (crates/ostree-ext/src/container/mod.rs `merge_default_container_proxy_opts`).
# TESTBOOT_ROOT prefixes the paths (tests).
bootc_authfile() {
  local f
  for f in /run/ostree/auth.json /etc/ostree/auth.json /usr/lib/ostree/auth.json; do
    if [[ -f ${TESTBOOT_ROOT:-}$f ]]; then
      printf '%s' "${TESTBOOT_ROOT:-}$f"
      return 0
    fi
  done
}

# registry_image REF ARCH: what the registry serves for REF now, as the ImageStatus bootc
# would report after pulling it: {image, imageDigest, version, timestamp, architecture}.
#
# Why ask the registry directly instead of reading `bootc upgrade --check`: that answer
# compares the registry with the image LAST PULLED for REF, not with the booted one
# (bootc-dev/bootc crates/ostree-ext/src/container/store.rs `prepare_internal`): after a
# download or a rollback, "No changes in:" can mean the registry serves an image the host
# does not run, and the digest it names is never printed. skopeo is what bootc pulls
# through (its image proxy), so it is on every bootc host; it gets the same credentials
# (bootc_authfile, or --no-creds as bootc would) and the same registries.conf.
#
# imageDigest is the per-platform manifest digest, as bootc records it: for an image
# index, the linux/ARCH entry (containers/image chooses it the same way); for a plain
# manifest, the sha256 of its bytes (`skopeo inspect --raw` prints them unchanged:
# containers/skopeo cmd/skopeo/inspect.go). version and timestamp follow bootc's
# crates/lib/src/status.rs `create_imagestatus`.
registry_image() {
  local ref=$1 arch=$2 name tmp digest auth f cfg
  require_cmd skopeo "bootc's image proxy: install skopeo"
  name=${ref%%@*}
  [[ ${name##*/} == *:* ]] && name=${name%:*}
  # containers/image refuses a reference with both a tag and a digest: use the digest.
  [[ $ref == *@* ]] && ref=$name@${ref##*@}
  auth=(--no-creds)
  f=$(bootc_authfile) && [[ -n $f ]] && auth=(--authfile "$f")
  tmp=$(mktemp -d) || die "cannot create a temporary directory"
  if ! run_split "$tmp/manifest" "$tmp/err" skopeo inspect --raw "${auth[@]}" "docker://$ref"; then
    f=$(first_line "$(<"$tmp/err")")
    rm -rf "$tmp"
    die "cannot read $ref from the registry: ${f:-skopeo inspect failed}"
  fi
  if jq -e 'type == "object" and has("manifests")' "$tmp/manifest" >/dev/null 2>&1; then
    digest=$(jq -r --arg a "$arch" \
      'first(.manifests[] | select(.platform.os == "linux" and .platform.architecture == $a) | .digest) // empty' "$tmp/manifest")
    [[ -n $digest ]] || { rm -rf "$tmp"; die "the image index $ref has no linux/$arch image"; }
  elif jq -e 'type == "object" and has("config")' "$tmp/manifest" >/dev/null 2>&1; then
    digest=sha256:$(sha256sum "$tmp/manifest" | cut -c1-64)
  else
    rm -rf "$tmp"
    die "the registry answered for $ref with something that is not an image manifest"
  fi
  if ! run_split "$tmp/config" "$tmp/err" skopeo inspect --config --raw "${auth[@]}" "docker://$name@$digest"; then
    f=$(first_line "$(<"$tmp/err")")
    rm -rf "$tmp"
    die "cannot read the configuration of $name@$digest: ${f:-skopeo inspect failed}"
  fi
  cfg=$(jq -c --arg ref "$1" --arg d "$digest" '
    (.config.Labels // {}) as $l
    | {image: {image: $ref, transport: "registry"}, imageDigest: $d, architecture: .architecture,
       version: ($l["org.opencontainers.image.version"] // $l.version // null),
       timestamp: ($l["org.opencontainers.image.created"] // .created // null)}' "$tmp/config" 2>/dev/null) || cfg=""
  rm -rf "$tmp"
  [[ -n $cfg ]] || die "the configuration of $name@$digest is not valid JSON"
  printf '%s' "$cfg"
}

# epoch_of RFC3339: seconds since the epoch, empty when not a time.
epoch_of() {
  [[ -n $1 && $1 != null ]] || return 0
  date -u -d "$1" +%s 2>/dev/null || true
}

# downgrade_problem CANDIDATE_JSON BOOTED_JSON: why the candidate image (an ImageStatus)
# may be older than the booted one, or nothing when it is not. Build times decide
# (bootc's `timestamp`: the org.opencontainers.image.created label, else the config's
# created): version labels are free text (git describe output, a base image's own
# version) with no order to rely on, while our builds stamp the commit time.
downgrade_problem() {
  local c b
  c=$(epoch_of "$(jq -r '.timestamp // empty' <<<"$1")")
  b=$(epoch_of "$(jq -r '.timestamp // empty' <<<"$2")")
  if [[ -z $c ]]; then
    echo "it has no build time (org.opencontainers.image.created), so it cannot be shown to be newer than the booted image"
  elif [[ -n $b ]] && ((c < b)); then
    echo "it was built $(jq -r .timestamp <<<"$1"), before the booted image ($(jq -r .timestamp <<<"$2"))"
  fi
}

# reboot_kind JSON ENTRY BOOTC_VERSION FULL: how bootc will reboot into status.ENTRY
# (staged or rollback): "soft" when bootc can restart only userspace into it, else
# "full". bootc >= 1.7.0 reports softRebootCapable (ostree's deployment_can_soft_reboot:
# same kernel, initramfs and kernel arguments) and takes --soft-reboot=auto, which
# prepares a soft reboot only for a capable deployment (bootc-dev/bootc
# crates/lib/src/cli.rs `handle_soft_reboot`). FULL=true forces a full reboot.
reboot_kind() {
  if [[ $4 != true ]] && ver_ge "$3" 1.7.0 &&
    [[ $(jq -r ".status.$2.softRebootCapable // false" <<<"$1") == true ]]; then
    echo soft
  else
    echo full
  fi
}

# describe_reboot KIND ENTRY FULL: one line for the operator saying which reboot happens.
describe_reboot() {
  if [[ $1 == soft ]]; then
    echo "soft (userspace only: the $2 image has the same kernel, initramfs and kernel arguments; --full-reboot forces a full one)"
  elif [[ $3 == true ]]; then
    echo "full (--full-reboot)"
  else
    echo "full (bootc cannot soft-reboot into the $2 image: new kernel, initramfs or kernel arguments, or bootc < 1.7)"
  fi
}

#!/usr/bin/env bash
# Boots a built OS image on this machine and leaves it running: real systemd as
# PID 1 under systemd-nspawn, with bootc's filesystem layout (the image
# read-only, /etc per deployment, one persistent /var), nginx and the apps
# reachable on a loopback port. Behind `make run`, `make run-shell`,
# `make run-stop` and `make run-upgrade`.
#
# Usage: run-local.sh start   --dir DIR --image REF [--port N] [--reset] [--mode M] [--timeout S]
#        run-local.sh shell   --dir DIR [--command CMD]
#        run-local.sh upgrade --dir DIR --image REF [--timeout S]
#        run-local.sh stop    --dir DIR [--timeout S]
#
#   start     deploy REF (an image in root's podman storage) and boot it; prints
#             one line on stdout: the URL, how to get a shell, how to stop
#   shell     a root shell inside the running guest, or CMD run by its bash
#   upgrade   what `bootc upgrade` + reboot do: power off, boot REF with a /etc
#             of its own and the same /var; nothing happens when REF is the
#             image already running
#   stop      power the guest off cleanly (killed after --timeout seconds)
#
# Options:
#   --dir DIR        state directory (make: $(OUTPUT)/run): var/ is the host's
#                    /var, deploy/ the per-image /etc, console.log the last boot
#   --image REF      the image to boot (make: $(IMAGE):$(VERSION))
#   --port N         127.0.0.1 port forwarded to the guest's nginx (default 8080)
#   --reset          start from a fresh /var and /etc (the first install again)
#   --mode M         auto (default) or nspawn: a container on this machine's
#                    kernel; vm: a KVM virtual machine with the image's own kernel
#                    through `bcvk ephemeral run-ssh` (needs bcvk and /dev/kvm;
#                    runs in the foreground until you log out)
#   --command CMD    shell: run CMD with the guest's bash instead of a login shell
#   --timeout S      seconds to wait for the boot (default 120) or the power-off
#                    (default 30)
#   -h, --help       this help
#
# The guest runs with a private network: nothing in it listens on this machine.
# 127.0.0.1:PORT here is joined to a Unix socket in a directory bind-mounted
# into the guest, where a socket unit hands each connection to
# systemd-socket-proxyd and on to nginx on the guest's 127.0.0.1:80.
# cloud-init is masked in the guest at runtime (there is no EC2 metadata service).
#
# Exit status: 0 done, 1 failure (nothing running, not root, port taken, image
# missing, a run already going, boot failed), 2 usage error.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

SELF=$(realpath -- "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)
# Where the bridge and the ready marker appear inside the guest (its /run tmpfs).
GUEST_DIR=/run/bootc-testboot-run
PROXYD_PATHS=(/usr/lib/systemd/systemd-socket-proxyd /lib/systemd/systemd-socket-proxyd)

# --- Arguments -------------------------------------------------------------------
cmd="" dir="" image="" port=8080 reset=false mode=auto command="" have_command=false timeout=""

# allowed FLAG COMMAND...: FLAG was given to a command that takes it.
allowed() {
  local flag=$1
  shift
  local c
  for c in "$@"; do [[ $cmd == "$c" ]] && return 0; done
  usage_error "$flag is not an option of '$cmd'"
}

# parse_args ARG...: the command and its options, all checked before anything runs.
parse_args() {
  cmd=${1:-}
  case $cmd in
    -h | --help) usage ;;
    start | shell | upgrade | stop) shift ;;
    _supervise) shift; [[ $# -eq 1 ]] || usage_error "_supervise takes the state directory" ;;
    "") usage_error "a command is required: start, shell, upgrade or stop" ;;
    -*) bad_arg "$cmd" ;;
    *) usage_error "unknown command '$cmd'" ;;
  esac

  if [[ $cmd == _supervise ]]; then
    dir=$1
    set --
  fi
  while (($#)); do
    case $1 in
      -h | --help) usage ;;
      --dir) need_value "$@"; dir=$2; shift ;;
      --image) need_value "$@"; image=$2; shift ;;
      --port) need_value "$@"; port=$2; shift ;;
      --reset) reset=true ;;
      --mode) need_value "$@"; mode=$2; shift ;;
      # A command may start with a dash or be anything at all: it is the guest's input.
      --command) [[ $# -ge 2 && -n $2 ]] || usage_error "--command needs a value"; command=$2; have_command=true; shift ;;
      --timeout) need_value "$@"; timeout=$2; shift ;;
      *) bad_arg "$1" ;;
    esac
    shift
  done

  [[ -n $dir ]] || usage_error "--dir is required"
  [[ $dir != *$'\n'* ]] || usage_error "--dir must not contain a newline"
  [[ -z $image ]] || allowed --image start upgrade
  [[ $port == 8080 ]] || allowed --port start
  ! $reset || allowed --reset start
  [[ $mode == auto ]] || allowed --mode start
  ! $have_command || allowed --command shell
  [[ -z $timeout ]] || allowed --timeout start upgrade stop
  if [[ $cmd == start || $cmd == upgrade ]]; then
    [[ -n $image ]] || usage_error "--image is required"
    [[ $image =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || usage_error "--image '$image' is not an image reference"
  fi
  if [[ ! $port =~ ^[1-9][0-9]{0,4}$ ]] || ((port > 65535)); then
    usage_error "--port '$port' is not a port number (1-65535)"
  fi
  case $mode in auto | nspawn | vm) ;; *) usage_error "--mode must be auto, nspawn or vm, not '$mode'" ;; esac
  if [[ -n $timeout ]]; then
    [[ $timeout =~ ^[1-9][0-9]{0,3}$ ]] || usage_error "--timeout '$timeout' is not a number of seconds (1-9999)"
  elif [[ $cmd == stop ]]; then
    timeout=30
  else
    timeout=120
  fi

  dir=$(realpath -m -- "$dir")
  rt=$dir/runtime # exists while a guest runs; removed when it stops
}

# --- Helpers ---------------------------------------------------------------------

# alive PID: the process exists and is not a zombie (a detached process's parent
# may never reap it).
alive() {
  local stat
  [[ $1 =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# children PID: the direct children of PID (the guest's init is nspawn's child).
children() {
  cat "/proc/$1/task/$1/children" 2>/dev/null || true
}

# supervisor_pid: the pid of this directory's supervisor when it runs, else nothing.
supervisor_pid() {
  local pid
  pid=$(cat "$rt/supervisor.pid" 2>/dev/null) || return 0
  alive "$pid" || return 0
  # A recycled pid would be another program.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "_supervise $dir" || return 0
  printf '%s' "$pid"
}

# guest_init: the host pid of the guest's systemd, or nothing.
guest_init() {
  local nspawn
  nspawn=$(cat "$rt/nspawn.pid" 2>/dev/null) || return 0
  alive "$nspawn" || return 0
  children "$nspawn" | awk '{print $1}'
}

# state KEY: a value the start recorded for the running guest.
state() {
  sed -n "s/^$1=//p" "$rt/state" 2>/dev/null | head -n1
}

# make_hint TARGET: the make command that reaches this state directory.
make_hint() {
  if [[ $dir == "$ROOT/output/run" ]]; then
    printf 'make %s' "$1"
  else
    printf 'make %s OUTPUT=%s' "$1" "$(sh_quote "${dir%/run}")"
  fi
}

require_running() {
  [[ -n $(supervisor_pid) ]] || die "no local run is going in $dir (start one with: make run)"
}

take_run_lock() {
  mkdir -p -- "$dir" || die "cannot create $dir"
  exec 9>>"$dir/.lock" || die "cannot open $dir/.lock"
  flock -n 9 || die "another make run, run-upgrade or run-stop is working on $dir; try again when it has finished"
}

image_id() {
  podman image inspect --format '{{.Id}}' -- "$1" 2>/dev/null
}

# port_taken PORT: something on this machine listens on the TCP port (a listener on
# 0.0.0.0 or :: takes 127.0.0.1's port too).
port_taken() {
  [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]
}

# cleanup_stale: a runtime directory whose supervisor is gone (killed, or the
# machine rebooted): undo what it left.
cleanup_stale() {
  [[ -d $rt && -z $(supervisor_pid) ]] || return 0
  local pid id f
  for f in nspawn.pid proxy.pid; do
    pid=$(cat "$rt/$f" 2>/dev/null) || continue
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  id=$(state id)
  [[ -z $id ]] || podman image unmount -- "$id" >/dev/null 2>&1 || true
  rm -rf --one-file-system -- "$rt"
  warn "cleaned up after a run that ended without its supervisor"
}

# --- The supervisor --------------------------------------------------------------
# Started detached by `start`: runs nspawn and the port bridge, and when the guest
# ends (run-stop, poweroff inside, a crash) stops the bridge, unmounts the image
# and removes the runtime directory, so nothing outlives the guest.
supervise() {
  local nspawn="" proxy rc=0 id mnt etc port machine proxyd
  echo "$$" >"$rt/supervisor.pid"
  # Whoever signals this process: the guest powers off and the cleanup below runs.
  trap 'log "supervisor: signal received, powering the guest off"; kill -TERM "$nspawn" 2>/dev/null || true' TERM INT HUP
  id=$(state id) mnt=$(state mount) etc=$(state etc) port=$(state port) machine=$(state machine)
  proxyd=$(state proxyd)
  TERM=dumb systemd-nspawn --quiet --boot --register=no --keep-unit \
    --directory="$mnt" --machine="$machine" --hostname=bootc-testboot \
    --read-only --bind="$etc:/etc" --bind="$dir/var:/var" \
    --private-network \
    --bind-ro="$rt/units:/run/systemd/system" \
    --bind="$rt/sock:$GUEST_DIR/sock" --bind="$rt/report:$GUEST_DIR/report" \
    </dev/null >"$dir/console.log" 2>&1 &
  nspawn=$!
  echo "$nspawn" >"$rt/nspawn.pid"
  # The host half of the bridge: systemd-socket-activate binds 127.0.0.1:PORT and
  # hands the listening socket to proxyd, which joins each connection to the guest.
  systemd-socket-activate -l "127.0.0.1:$port" "$proxyd" "$rt/sock/http.sock" \
    </dev/null >"$dir/proxy.log" 2>&1 &
  proxy=$!
  echo "$proxy" >"$rt/proxy.pid"
  # wait returns early for signals; the guest is what this process lives for.
  while alive "$nspawn"; do wait "$nspawn" || rc=$?; done
  echo "$rc" >"$dir/last-exit"
  kill -TERM "$proxy" 2>/dev/null || true
  wait "$proxy" 2>/dev/null || true
  podman image unmount -- "$id" >/dev/null 2>&1 || true
  rm -rf --one-file-system -- "$rt"
}

# --- Deploy and boot ---------------------------------------------------------------

# write_units UNITDIR: the guest's runtime units (bind-mounted read-only over
# /run/systemd/system, so neither the image nor the deployment's /etc changes).
write_units() {
  local u=$1 proxyd=$2
  mkdir -p "$u/sockets.target.wants" "$u/multi-user.target.wants"
  cat >"$u/bootc-testboot-run-http.socket" <<EOF
[Unit]
Description=make run: HTTP from the machine running this guest

[Socket]
ListenStream=$GUEST_DIR/sock/http.sock
SocketMode=0600
EOF
  cat >"$u/bootc-testboot-run-http.service" <<EOF
[Unit]
Description=make run: HTTP from the machine running this guest, to nginx
After=nginx.service

[Service]
ExecStart=$proxyd 127.0.0.1:80
EOF
  # Written after multi-user.target: `start` waits for it.
  cat >"$u/bootc-testboot-run-ready.service" <<EOF
[Unit]
Description=make run: tell the machine running this guest that the boot is up
After=multi-user.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'cat /proc/sys/kernel/random/boot_id >$GUEST_DIR/report/.ready && mv $GUEST_DIR/report/.ready $GUEST_DIR/report/ready'
EOF
  ln -s ../bootc-testboot-run-http.socket "$u/sockets.target.wants/"
  ln -s ../bootc-testboot-run-ready.service "$u/multi-user.target.wants/"
  local c
  for c in cloud-init-local cloud-init cloud-config cloud-final; do
    ln -s /dev/null "$u/$c.service"
  done
}

# boot REF ID PORT: deploy the image (its /etc on first use, the image's /var when
# this host has none yet) and start the supervisor; returns when the guest answers
# through the port, or fails with the console's tail after stopping it.
boot() {
  local ref=$1 id=$2 port=$3 mnt etc proxyd="" p machine start pid t0
  mnt=$(podman image mount -- "$id") || die "podman image mount $ref failed"
  # Until the supervisor owns the mount, a failure here must undo it.
  unmount_die() {
    podman image unmount -- "$id" >/dev/null 2>&1 || true
    die "$@"
  }
  for p in "${PROXYD_PATHS[@]}"; do
    if [[ -x $mnt$p ]]; then proxyd=$p; break; fi
  done
  [[ -n $proxyd ]] || unmount_die "$ref has no systemd-socket-proxyd (systemd's), which the port bridge needs"
  etc=$dir/deploy/${id:0:12}/etc
  if [[ ! -d $etc ]]; then
    log "deploying ${id:0:12}: a /etc of its own from the image"
    # Copied aside and renamed: an interrupted copy is never taken for a deployment.
    rm -rf --one-file-system -- "$etc.new"
    { mkdir -p "$etc.new" && cp -a -- "$mnt/etc/." "$etc.new/" && mv -- "$etc.new" "$etc"; } ||
      unmount_die "cannot copy the image's /etc to $etc"
  fi
  if [[ ! -d $dir/var ]]; then
    # bootc lays the image's /var down once, at install; never on upgrades.
    log "first install: /var from the image into $dir/var"
    rm -rf --one-file-system -- "$dir/var.new"
    { mkdir -p "$dir/var.new" && cp -a -- "$mnt/var/." "$dir/var.new/" && mv -- "$dir/var.new" "$dir/var"; } ||
      unmount_die "cannot copy the image's /var to $dir/var"
  fi
  rm -rf --one-file-system -- "$rt"
  mkdir -p "$rt/units" "$rt/sock" "$rt/report"
  write_units "$rt/units" "${proxyd}"
  # One machine name per state directory: nspawn keeps per-name files in /run.
  machine=testboot-run-$(printf '%s' "$dir" | sha256sum | cut -c1-8)
  printf '%s\n' "ref=$ref" "id=$id" "mount=$mnt" "etc=$etc" "port=$port" "machine=$machine" \
    "proxyd=$(host_proxyd)" >"$rt/state"
  printf '%s\t%s\n' "$id" "$ref" >"$dir/current"

  log "booting $ref under systemd-nspawn (console: $dir/console.log)"
  t0=$SECONDS
  # Detached (its own session, no terminal, no inherited pipes or lock): the guest
  # outlives this command; run-stop ends it.
  setsid "$SELF" _supervise "$dir" </dev/null >>"$dir/supervise.log" 2>&1 9>&- &
  # Interrupted while it boots: the guest goes too.
  trap 'stop_guest 10 >/dev/null; die "interrupted; the guest was stopped"' INT TERM
  start=$SECONDS
  local next=10 ready=false proxy_gone=false
  while ((SECONDS - start < timeout)); do
    if [[ -f $rt/report/ready ]] && curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; then
      ready=true
      break
    fi
    if ((SECONDS - start > 2)) && [[ -z $(supervisor_pid) ]]; then
      break
    fi
    pid=$(cat "$rt/proxy.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && ! alive "$pid"; then
      proxy_gone=true
      break
    fi
    if ((SECONDS - start >= next)); then
      log "still booting ($((SECONDS - start))s)"
      next=$((next + 10))
    fi
    sleep 0.2
  done
  if ! $ready; then
    pid=$(supervisor_pid)
    [[ -z $pid ]] || stop_guest 10 >/dev/null
    printf '%s\n' "--- last lines of $dir/console.log" >&2
    tail -n 25 "$dir/console.log" >&2 2>/dev/null || true
    [[ ! -s $dir/proxy.log ]] || { printf '%s\n' "--- $dir/proxy.log" >&2; tail -n 5 "$dir/proxy.log" >&2; }
    trap - INT TERM
    if [[ -z $pid ]]; then
      die "the guest stopped during boot (console above); nothing is running"
    fi
    if $proxy_gone; then
      die "the bridge on 127.0.0.1:$port ended (port taken since the check?); the guest was stopped"
    fi
    die "$ref did not answer on http://127.0.0.1:$port/health within ${timeout}s; the guest was stopped"
  fi
  trap - INT TERM
  log "up in $((SECONDS - t0))s"
}

host_proxyd() {
  local p
  for p in "${PROXYD_PATHS[@]}"; do
    [[ -x $p ]] && { printf '%s' "$p"; return 0; }
  done
}

# stop_guest TIMEOUT: orderly power-off (SIGTERM to nspawn is the guest's
# poweroff), SIGKILL after TIMEOUT seconds; returns when the supervisor has
# cleaned up. Prints how it went.
stop_guest() {
  local limit=$1 sup nspawn init start t0=${EPOCHREALTIME/[.,]/} killed=false
  sup=$(supervisor_pid)
  nspawn=$(cat "$rt/nspawn.pid" 2>/dev/null || true)
  start=$SECONDS
  if alive "$nspawn"; then
    kill -TERM "$nspawn" 2>/dev/null || true
    while alive "$nspawn" && ((SECONDS - start < limit)); do sleep 0.1; done
    if alive "$nspawn"; then
      killed=true
      # The guest's init takes its whole PID namespace with it.
      for init in $(children "$nspawn"); do kill -KILL "$init" 2>/dev/null || true; done
      kill -KILL "$nspawn" 2>/dev/null || true
    fi
  fi
  local wait_start=$SECONDS
  while [[ -n $sup ]] && alive "$sup" && ((SECONDS - wait_start < 30)); do sleep 0.1; done
  if [[ -n $sup ]] && alive "$sup"; then
    kill -KILL "$sup" 2>/dev/null || true
    cleanup_stale
  fi
  if $killed; then
    echo "killed after it did not power off within ${limit}s"
  else
    local us=$((${EPOCHREALTIME/[.,]/} - t0))
    printf 'clean power-off in %d.%ds\n' $((us / 1000000)) $((us % 1000000 / 100000))
  fi
}

# summary: the one line on stdout.
summary() {
  local what=$1 ref port info version base
  ref=$(state ref) port=$(state port)
  info=$(state mount)/usr/share/bootc-testboot/build-info.json
  version=$(jq -r '.version // "unknown"' "$info" 2>/dev/null || echo unknown)
  base=$(jq -r '.base_image // ""' "$info" 2>/dev/null || true)
  [[ $base != localhost/bootc-testboot-standin:* ]] || base="$base, the Debian stand-in"
  printf '%s (nspawn: a container on this kernel; %s, version %s%s): http://127.0.0.1:%s/ | shell: %s | stop: %s\n' \
    "$what" "$ref" "$version" "${base:+, base $base}" "$port" "$(make_hint run-shell)" "$(make_hint run-stop)"
}

# --- Commands --------------------------------------------------------------------

cmd_start() {
  require_root
  local bcvk=false
  command -v bcvk >/dev/null 2>&1 && [[ -r /dev/kvm && -w /dev/kvm ]] && bcvk=true
  if [[ $mode == vm ]]; then
    $bcvk || die "the VM path needs bcvk (https://github.com/bootc-dev/bcvk) and a usable /dev/kvm; without them use RUN_MODE=nspawn (the default)"
    podman image exists -- "$image" || die "image $image is not built: run 'make build' first"
    base=$(podman image inspect --format '{{index .Labels "org.opencontainers.image.base.name"}}' -- "$image" 2>/dev/null || true)
    [[ $base != localhost/bootc-testboot-standin:* ]] ||
      die "$image is built on the Debian stand-in, which has no kernel to boot in a VM; use RUN_MODE=nspawn"
    log "mode: vm (bcvk ephemeral run-ssh: the image's own kernel under KVM; the VM ends when you log out)"
    exec bcvk ephemeral run-ssh "$image"
  fi
  require_cmd systemd-nspawn "apt-get install systemd-container / dnf install systemd-container"
  require_cmd podman "apt-get install podman"
  require_cmd systemd-socket-activate "part of systemd"
  [[ -n $(host_proxyd) ]] || die "systemd-socket-proxyd is not installed (part of systemd)"
  require_cmd curl "apt-get install curl"
  require_cmd ss "apt-get install iproute2"
  require_cmd flock "apt-get install util-linux"
  require_cmd jq "apt-get install jq"
  [[ -z $(supervisor_pid) ]] ||
    die "a local run is already going in $dir on http://127.0.0.1:$(state port)/ (stop it with: $(make_hint run-stop))"
  podman image exists -- "$image" ||
    die "image $image is not built: run 'make build' (or 'make build BASE_IMAGE=standin' offline) first"
  ! port_taken "$port" || die "port $port on 127.0.0.1 is in use: choose another with RUN_PORT=N"
  local id
  id=$(image_id "$image") || die "cannot read the image ID of $image"

  take_run_lock
  [[ -z $(supervisor_pid) ]] || die "a local run is already going in $dir"
  cleanup_stale
  if $reset; then
    log "RESET: removing $dir/var and every deployment's /etc"
    rm -rf --one-file-system -- "${dir:?}/var" "$dir/deploy" "$dir/current"
  fi
  if $bcvk; then
    log "bcvk and /dev/kvm found: RUN_MODE=vm boots the image as a VM with its own kernel instead"
  fi
  boot "$image" "$id" "$port"
  summary "running"
}

cmd_shell() {
  require_root
  require_cmd nsenter "apt-get install util-linux"
  require_running
  local init
  init=$(guest_init)
  [[ -n $init ]] || die "the guest in $dir is starting or stopping; try again"
  # All of the guest's namespaces (mount, PID, network, UTS, IPC, cgroup): its
  # root, its processes, its loopback. A clean environment: nothing of the
  # caller's leaks in but the terminal type.
  local env=(/usr/bin/env -i "TERM=${TERM:-dumb}" HOME=/root USER=root LOGNAME=root SHELL=/bin/bash
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  if $have_command; then
    exec nsenter --target "$init" --all -- "${env[@]}" /bin/bash -lc "$command"
  fi
  [[ -t 0 ]] || log "stdin is not a terminal: the guest's bash reads commands from it"
  exec nsenter --target "$init" --all -- "${env[@]}" /bin/bash -l
}

cmd_stop() {
  require_root
  require_cmd flock "apt-get install util-linux"
  if [[ -z $(supervisor_pid) ]]; then
    if [[ -d $rt ]]; then
      take_run_lock
      cleanup_stale
    fi
    log "no local run is going in $dir; nothing to stop"
    return 0
  fi
  take_run_lock
  local how
  log "powering off $(state ref)"
  how=$(stop_guest "$timeout")
  [[ ! -d $rt ]] || die "the guest stopped but $rt is still there"
  printf 'stopped (%s); /var kept in %s (RESET=1 make run starts fresh)\n' "$how" "$dir/var"
}

cmd_upgrade() {
  require_root
  require_cmd podman "apt-get install podman"
  require_cmd flock "apt-get install util-linux"
  require_running
  podman image exists -- "$image" || die "image $image is not built: run 'make build' first"
  local id old_id old_ref port how
  id=$(image_id "$image") || die "cannot read the image ID of $image"
  take_run_lock
  require_running
  old_id=$(state id) old_ref=$(state ref) port=$(state port)
  if [[ $id == "$old_id" ]]; then
    log "already running $image (${id:0:12}); nothing to upgrade"
    summary "running"
    return 0
  fi
  log "upgrading ${old_id:0:12} ($old_ref) -> ${id:0:12} ($image): power-off, then boot the new image with the same /var"
  how=$(stop_guest 30)
  log "stopped ($how)"
  # The new deployment's /etc starts from its image: local /etc edits are not
  # carried over (bootc's 3-way merge would keep them).
  boot "$image" "$id" "$port"
  # Like ostree: the booted and the previous deployment stay, older ones go.
  local d keep1=${id:0:12} keep2=${old_id:0:12}
  for d in "$dir"/deploy/*/; do
    d=${d%/}
    [[ ${d##*/} == "$keep1" || ${d##*/} == "$keep2" ]] || rm -rf --one-file-system -- "$d"
  done
  summary "upgraded from ${old_id:0:12}, /var kept"
}

main() {
  parse_args "$@"
  case $cmd in
    start) cmd_start ;;
    shell) cmd_shell ;;
    stop) cmd_stop ;;
    upgrade) cmd_upgrade ;;
    _supervise) supervise ;;
  esac
}

main "$@"

#!/usr/bin/env bash
# Builds (or reuses) the local stand-in for the Fedora bootc base image and
# prints its reference, e.g. localhost/bootc-testboot-standin:3f2a9c1d0e4b.
#
# The real base (quay.io/fedora/fedora-bootc) cannot be pulled on machines
# without registry access, so the image tests build the real Containerfile on a
# Debian 13 (trixie) root made by debootstrap: systemd 257, as on the real bases,
# so soft reboots work. It carries the packages the Containerfile installs and
# two small adapters for Fedora-only tools (test/standin/adapters/{dnf,bootc});
# they exist in this image and nowhere else.
#
# The tag is a hash of every file in test/standin/, so the image is rebuilt only
# when the recipe changes. Downloaded .debs are kept in the cache directory.
#
# Usage: test/standin/build.sh [--rebuild]
#   --rebuild    build even when an image with the current tag exists
# Environment:
#   STANDIN_SUITE      Debian release (default trixie; bookworm has systemd 252: no soft reboot)
#   STANDIN_MIRROR     Debian mirror (default http://deb.debian.org/debian)
#   STANDIN_CACHE_DIR  .deb cache (default /var/cache/bootc-testboot/debs)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../scripts/lib/common.sh
source "$HERE/../../scripts/lib/common.sh"

REPO=localhost/bootc-testboot-standin
SUITE=${STANDIN_SUITE:-trixie}
MIRROR=${STANDIN_MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=${STANDIN_CACHE_DIR:-/var/cache/bootc-testboot/debs}
# What a Fedora bootc base plus the Containerfile's `dnf install` line give a host.
# python3-cffi-backend: debootstrap does not resolve virtual packages, and
# cloud-init's python3-cryptography needs the one this package provides.
# libnss-myhostname: Fedora resolves the host's own name with nss-myhostname
# (authselect's nsswitch.conf); without it sudo warns on every command.
PACKAGES=(
  systemd systemd-sysv dbus udev libnss-myhostname
  nginx openssh-server cloud-init python3-cffi-backend
  jq curl ca-certificates sudo iproute2 procps util-linux
)

rebuild=false
while (($#)); do
  case $1 in
    -h | --help) usage ;;
    --rebuild) rebuild=true ;;
    *) bad_arg "$1" ;;
  esac
  shift
done

require_root
require_cmd podman "apt-get install podman"
require_cmd debootstrap "apt-get install debootstrap"
require_cmd flock "apt-get install util-linux"

hash=$({ cd "$HERE" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum && echo "$SUITE"; } | sha256sum | cut -c1-12)
ref="$REPO:$hash"

# One build at a time: suites running in parallel wait for the first one.
mkdir -p /run/lock
exec 9>/run/lock/bootc-testboot-standin.lock
flock 9

if ! $rebuild && podman image exists "$ref"; then
  printf '%s\n' "$ref"
  exit 0
fi

mkdir -p "$CACHE_DIR"
work=$(mktemp -d /var/tmp/bootc-testboot-standin.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
root=$work/root

log "building $ref with debootstrap $SUITE from $MIRROR (a few minutes the first time)"
packages=$(IFS=,; echo "${PACKAGES[*]}")
if ! debootstrap --variant=minbase --include="$packages" --cache-dir="$CACHE_DIR" \
  "$SUITE" "$root" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
  tail -n 20 "$work/debootstrap.log" >&2
  [[ -f $root/debootstrap/debootstrap.log ]] && tail -n 20 "$root/debootstrap/debootstrap.log" >&2
  die "debootstrap failed (full log above)"
fi

install -m 0755 "$HERE/adapters/dnf" "$root/usr/bin/dnf"
install -m 0755 "$HERE/adapters/bootc" "$root/usr/bin/bootc"
# Host keys are made on each host's first boot, never shipped in an image.
rm -f "$root"/etc/ssh/ssh_host_*
install -m 0644 "$HERE/adapters/sshd-keygen.service" "$root/usr/lib/systemd/system/sshd-keygen.service"
mkdir -p "$root/usr/lib/systemd/system/ssh.service.wants"
ln -sfn ../sshd-keygen.service "$root/usr/lib/systemd/system/ssh.service.wants/sshd-keygen.service"
# What every bootc base has and bootc-image-builder checks for.
mkdir -p "$root/sysroot"
# Machine-specific files debootstrap copies from this host do not belong in a base image.
rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
# A bootc base has nothing in /run and /tmp (bootc lint: nonempty-run-tmp).
find "$root/run" "$root/tmp" -mindepth 1 -delete
: >"$root/etc/machine-id"
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin "$root/var/cache/apt/archives/"*.deb

log "importing the root filesystem"
tar -C "$root" --numeric-owner --xattrs --acls -cf - . |
  podman import \
    --change 'LABEL containers.bootc=1' \
    --change "LABEL org.opencontainers.image.title=bootc-testboot-standin" \
    --change "LABEL org.opencontainers.image.version=debian-$SUITE" \
    --change 'CMD ["/sbin/init"]' \
    - "$ref" >/dev/null
log "built $ref"
printf '%s\n' "$ref"

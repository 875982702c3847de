#!/usr/bin/env bash
# make vm-test: builds the image on the real base (BASE_IMAGE, default the
# Containerfile's pinned one) four times, turns v1 into a qcow2 with
# bootc-image-builder (the admin user and a test key from config.toml), boots
# it with qemu and KVM where there is no metadata service (cloud-init must give
# up on EC2 by its timeout, and SSH answer before cloud-init finishes), and
# runs the lifecycle driver against it over SSH (test/lifecycle/driver.go):
# verify v1, push v2, os-check, os-upgrade, os-apply, verify v2, os-rollback,
# verify v1, an unsigned image refused, a broken image rolled back by
# greenboot; then SELinux enforcing with no denials.
#
# Usage: test/lifecycle/vm-test.sh [-h|--help]
# Needs root (podman and bootc-image-builder use root's image storage), /dev/kvm,
# qemu-system for this machine's architecture, qemu-img, skopeo, docker-registry.
# Exit status: 0 passed, 1 failed, 2 this machine cannot run it.
set -euo pipefail
case ${1:-} in
  -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "vm-test: unknown argument '$1' (--help)" >&2; exit 2 ;;
esac
# TESTBOOT_KVM_DEVICE: test/ops points it elsewhere to see the refusal.
kvm=${TESTBOOT_KVM_DEVICE:-/dev/kvm}
if [[ ! -c $kvm || ! -w $kvm ]]; then
  echo "vm-test: $kvm is missing or not writable: this needs a Linux machine with KVM (bare metal, nested virtualization, or a GitHub ubuntu-24.04 runner)" >&2
  exit 2
fi
if ((EUID != 0)); then
  echo "vm-test: run as root (podman and bootc-image-builder use root's image storage)" >&2
  exit 2
fi
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
TESTBOOT_VM=1 exec test/suites/go-integration.sh ./lifecycle/... -run '^TestVM$' -timeout 120m

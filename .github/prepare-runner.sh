#!/usr/bin/env bash
# Makes a GitHub-hosted Ubuntu runner fit for image jobs (sudo; CI only).
#
# Disk: GitHub promises about 14 GB free on / (docs.github.com, "GitHub-hosted
# runners", standard runners: 14 GB SSD); the real base is pulled and built on
# several times, and root filesystems are copied under /var/tmp. Toolchains no
# job here uses are removed, and podman's storage and /var/tmp move to /mnt
# when it is bigger, as bootc-image-builder's own CI does ("on GH runners /mnt
# has 70G free space, use that for our container storage",
# osbuild/bootc-image-builder .github/workflows/tests.yml).
#
# Storage: podman's preinstalled storage on ubuntu-24.04 runners breaks
# bootc-image-builder; its CI starts from an empty overlay store with a fresh
# storage.conf (same workflow, "Workaround podman issues in GH actions",
# osbuild/bootc-image-builder#446). Run this before anything uses podman.
#
# Usage: .github/prepare-runner.sh [-h|--help]
set -euo pipefail
case ${1:-} in
  -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "prepare-runner: unknown argument '$1' (--help)" >&2; exit 2 ;;
esac
[[ ${GITHUB_ACTIONS:-} == true ]] || { echo "prepare-runner: only for GitHub-hosted runners (it deletes toolchains)" >&2; exit 2; }
df -h / /mnt 2>/dev/null || true
sudo rm -rf /usr/share/dotnet /usr/local/lib/android /opt/ghc /usr/local/.ghcup /opt/hostedtoolcache/CodeQL \
  /usr/local/share/boost /usr/local/share/powershell /usr/share/swift
sudo rm -rf /var/lib/containers/storage
sudo mkdir -p /etc/containers /var/lib/containers
printf '[storage]\ndriver = "overlay"\nrunroot = "/run/containers/storage"\ngraphroot = "/var/lib/containers/storage"\n' |
  sudo tee /etc/containers/storage.conf >/dev/null
free_kb() { df --output=avail -k "$1" | tail -n 1; }
if [[ -d /mnt ]] && (($(free_kb /mnt) > $(free_kb /))); then
  for d in /var/lib/containers /var/tmp; do
    sudo mkdir -p "/mnt$d"
    sudo chmod --reference="$d" "/mnt$d"
    sudo mount --bind "/mnt$d" "$d"
  done
fi
df -h / /mnt 2>/dev/null || true

#!/usr/bin/env bash
# Makes bootc enforce /etc/containers/policy.json for this host's image, once:
# run at boot by bootc-testboot-sigpolicy.service (installed as
# /usr/libexec/bootc-testboot/enforce-sigpolicy).
#
# bootc applies /etc/containers/policy.json to every image it pulls; a host whose
# origin enforces it (`bootc status`: spec.image.signature is "containerPolicy")
# also refuses a policy whose default accepts anything, so a policy.json edited to
# `insecureAcceptAnything` cannot silently turn the check off (bootc-dev/bootc
# crates/ostree-ext/src/container/mod.rs SignatureSource, store.rs
# `prepare_internal`). A host installed with
# `bootc install --enforce-container-sigpolicy`, or from an image whose
# /usr/lib/bootc/install says so, already has it; a host installed earlier, or
# by a bootc older than 1.15.2, does not. For such a host following our
# repository (/usr/share/bootc-testboot/signing.json), this runs
#   bootc switch --enforce-container-sigpolicy --retain <the same reference>
# bootc compares the whole image reference, signature setting included, so
# this is a change, not "Image specification is unchanged" (bootc-dev/bootc
# crates/lib/src/cli.rs switch_ostree; crates/lib/src/spec.rs ImageReference).
# The switch pulls the reference under the policy: it fails unless the image
# the registry serves is signed with one of our keys, and it stages that image
# as `make os-upgrade` would; it is booted at the next reboot (`make os-apply`).
# From then on every pull of this host is checked.
#
# Exit status: 0 enforcing (or nothing to do), 1 the switch failed (the unit
# retries). TESTBOOT_ROOT prefixes the paths it reads (tests).
set -euo pipefail

prog=bootc-testboot-sigpolicy
info=${TESTBOOT_ROOT:-}/usr/share/bootc-testboot/signing.json
lock=${TESTBOOT_LOCK:-/run/bootc-testboot/lock}
log() { printf '%s: %s\n' "$prog" "$*" >&2; }
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi

if [[ ! -f $info ]]; then
  log "this image declares no signature policy ($info is absent): nothing to enforce"
  exit 0
fi
repo=$(jq -er '.repository | select(type == "string" and . != "")' "$info") ||
  { log "error: $info names no repository"; exit 1; }

# Same lock as the day-2 scripts (scripts/lib/common.sh take_lock): never
# switch while an upgrade or rollback runs.
(umask 077 && mkdir -p "$(dirname "$lock")") 2>/dev/null || true
exec 9>>"$lock"
flock -w 600 9 || { log "error: another bootc-testboot operation holds $lock"; exit 1; }

status=$(bootc status --format=json --format-version=1) || { log "error: bootc status failed"; exit 1; }
ref=$(jq -r '.spec.image.image // empty' <<<"$status")
transport=$(jq -r '.spec.image.transport // empty' <<<"$status")
# ImageSignature serializes as "containerPolicy", or {"ostreeRemote": NAME}.
signature=$(jq -r '.spec.image.signature // "none" | if type == "string" then . else (keys | first) end' <<<"$status")

if [[ -z $ref ]]; then
  log "bootc reports no image for this host: nothing to enforce"
  exit 0
fi
if [[ $signature == containerPolicy ]]; then
  log "bootc already enforces the signature policy for $ref"
  exit 0
fi
name=${ref%%@*}
[[ ${name##*/} == *:* ]] && name=${name%:*}
if [[ $transport != registry || $name != "$repo" ]]; then
  log "this host follows $transport:$ref, not $repo: its signature setting ($signature) is left as it is"
  exit 0
fi

log "switching $ref to signature enforcement (bootc switch --enforce-container-sigpolicy)"
if ! bootc switch --enforce-container-sigpolicy --retain "$ref"; then
  log "error: $ref could not be pulled under /etc/containers/policy.json: is the image the registry serves signed with one of $(jq -r '.keys | join(", ")' "$info")?"
  exit 1
fi
log "$ref now requires a signature; the staged deployment is booted at the next reboot"

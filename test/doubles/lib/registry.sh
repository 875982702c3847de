# shellcheck shell=bash
# The registry the skopeo and bootc doubles share: real OCI manifests, indexes and
# configs, stored by the sha256 of their bytes, so every digest a double reports is the
# digest of content it serves. Source it; never execute it. The test side
# (test/harness/registry.go) publishes images into it.
#
# $DOUBLES_STATE/registry/
#   blobs/<hex>   manifests, indexes and configs, named by the sha256 of their bytes
#   tags.json     {"HOST/PATH:TAG": "sha256:<digest of the top-level manifest or index>"}
#   fail          the registry is unreachable: every fetch fails (its text, if any, is the
#                 error)

reg_dir() { printf '%s/registry' "${DOUBLES_STATE:-/nonexistent}"; }

# reg_name REF: HOST/PATH without :TAG or @DIGEST.
reg_name() {
  local r=${1%%@*}
  local last=${r##*/}
  [[ $last == *:* ]] && r=${r%:*}
  printf '%s' "$r"
}

# reg_tag REF: the tag of REF (default latest, as containers/image's docker transport
# assumes), empty when REF names a digest.
reg_tag() {
  [[ $1 == *@* ]] && return 0
  local last=${1##*/}
  if [[ $last == *:* ]]; then printf '%s' "${last##*:}"; else printf 'latest'; fi
}

# reg_unreachable: the error a fetch gives when the registry cannot be reached, or
# nothing (status 1) when it can.
reg_unreachable() {
  [[ -e $(reg_dir)/fail ]] || return 1
  local msg
  msg=$(cat "$(reg_dir)/fail")
  printf '%s' "${msg:-pinging container registry: Get \"https://registry/v2/\": dial tcp: i/o timeout}"
}

# reg_top_digest REF: the digest REF resolves to (its own @DIGEST, or the tag's), status 1
# when the registry has no such manifest.
reg_top_digest() {
  local d
  if [[ $1 == *@sha256:* ]]; then
    d=${1##*@}
  else
    d=$(jq -r --arg k "$(reg_name "$1"):$(reg_tag "$1")" '.[$k] // empty' "$(reg_dir)/tags.json" 2>/dev/null || true)
  fi
  [[ -n $d && -f $(reg_dir)/blobs/${d#sha256:} ]] || return 1
  printf '%s' "$d"
}

# reg_blob DIGEST: the bytes stored under DIGEST, unchanged.
reg_blob() { cat "$(reg_dir)/blobs/${1#sha256:}"; }

# reg_platform_digest DIGEST ARCH: the per-platform manifest digest for linux/ARCH: DIGEST
# itself for an image manifest, the matching entry for an index (what containers/image's
# image.FromUnparsedImage chooses for the running platform). Status 1 when none matches.
reg_platform_digest() {
  local blob
  blob=$(reg_blob "$1")
  if jq -e '.manifests' >/dev/null <<<"$blob"; then
    local d
    d=$(jq -r --arg a "$2" 'first(.manifests[] | select(.platform.os == "linux" and .platform.architecture == $a) | .digest) // empty' <<<"$blob")
    [[ -n $d ]] || return 1
    printf '%s' "$d"
  else
    printf '%s' "$1"
  fi
}

# reg_config_digest MANIFEST_DIGEST: the image ID (config digest) of a per-platform manifest.
reg_config_digest() { reg_blob "$1" | jq -r '.config.digest'; }

# reg_image_status REF MANIFEST_DIGEST: the ImageStatus bootc reports for that image, built
# the way bootc-dev/bootc crates/lib/src/status.rs `create_imagestatus` builds it: version
# from the org.opencontainers.image.version label, else the legacy `version` label
# (crates/ostree-ext/src/container/mod.rs `version_for_config`); timestamp from the
# org.opencontainers.image.created label, else the config's `created`; architecture from
# the config.
reg_image_status() {
  local config
  config=$(reg_blob "$(reg_config_digest "$2")")
  jq -cS --arg ref "$1" --arg d "$2" '
    (.config.Labels // {}) as $l
    | {image: {image: $ref, transport: "registry"}, imageDigest: $d,
       architecture: .architecture,
       version: ($l["org.opencontainers.image.version"] // $l.version // null),
       timestamp: ($l["org.opencontainers.image.created"] // .created // null)}' <<<"$config"
}

# DOUBLES_REGISTRY=skopeo answers the same functions from a real registry through skopeo
# (the simulated host of test/simhost, where the bootc double runs inside a booted guest).
if [[ ${DOUBLES_REGISTRY:-files} == skopeo ]]; then
  # shellcheck source=registry-skopeo.sh
  source "$(dirname "${BASH_SOURCE[0]}")/registry-skopeo.sh"
fi
